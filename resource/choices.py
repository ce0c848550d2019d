"""Dynamic choices of the plugin's forms (``paramsPythonSetup``): recipes in Flow order, datasets.

DSS calls ``do`` for each field with ``getChoicesFromPython``; it never raises, so the form keeps working
when the API cannot be reached (one placeholder choice then says why).
"""


def do(payload, config, plugin_config, inputs):
    name = (payload or {}).get("parameterName") or "choices"
    try:
        import dataiku
        from flow_orchestrator.shells.choices import form_choices

        return form_choices(name, config, client=dataiku.api_client(), project_key=dataiku.default_project_key())
    except Exception as exc:  # noqa: BLE001 - the form must keep working whatever happened
        try:  # the library's placeholder: one line, redacted (an error text may carry a URL with credentials)
            from flow_orchestrator.shells.choices import unavailable_choice

            return {"choices": [unavailable_choice(name, exc)]}
        except Exception:  # noqa: BLE001 - the library itself cannot be imported: a bare placeholder
            return {"choices": [{"value": "", "label": f"(could not list {name}: {exc.__class__.__name__})"}]}
