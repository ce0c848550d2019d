"""Dynamic choices of the plugin's forms (``paramsPythonSetup``): recipes in Flow order, datasets.

DSS calls ``do`` for each field with ``getChoicesFromPython``; it never raises, so the form keeps working
when the API cannot be reached (one placeholder choice then says why).
"""


def do(payload, config, plugin_config, inputs):
    name = (payload or {}).get("parameterName") or "choices"
    try:
        import dataiku
        from flow_orchestrator import entrypoints

        return entrypoints.form_choices(
            name, config, client=dataiku.api_client(), project_key=dataiku.default_project_key()
        )
    except Exception as exc:  # noqa: BLE001 - the form must keep working whatever happened
        reason = " ".join(str(exc).split())[:160] or exc.__class__.__name__
        return {"choices": [{"value": "", "label": f"(could not list {name}: {reason})"}]}
