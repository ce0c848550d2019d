"""The dataset listing says what each dataset's definition is now, whatever changed it and however often it is read.

The emulator keeps each definition's JSON text between listings (a 20,000-dataset listing is 40 MB to serialise);
these checks hold it to the definitions after every kind of change, read through the real client.
"""

from __future__ import annotations


def _listed(project):
    return {item["name"]: dict(item) for item in project.list_datasets()}


def _settings(project, name):
    return project.get_dataset(name).get_settings().get_raw()


def test_every_kind_of_change_shows_in_the_next_listing(fresh_dss):
    client = fresh_dss.client()
    project = client.get_project("CLINICAL")
    before = _listed(project)
    assert before == _listed(project)  # read twice: the same answer
    name = sorted(before)[0]
    assert before[name] == dict(_settings(project, name))

    settings = project.get_dataset(name).get_settings()  # a settings save
    settings.get_raw()["description"] = "changed by a settings save"
    settings.get_raw()["partitioning"]["dimensions"] = [{"name": "day", "type": "time", "params": {"period": "DAY"}}]
    settings.save()
    listed = _listed(project)
    assert listed[name]["description"] == "changed by a settings save"
    assert listed[name]["partitioning"]["dimensions"][0]["name"] == "day"

    columns = [{"name": "only", "type": "string"}]  # a schema set
    project.get_dataset(name).set_schema({"columns": columns})
    assert _listed(project)[name]["schema"]["columns"] == columns

    metadata = project.get_dataset(name).get_metadata()  # tags through the metadata
    metadata["tags"] = ["retagged"]
    project.get_dataset(name).set_metadata(metadata)
    assert _listed(project)[name]["tags"] == ["retagged"]

    project.get_dataset(name).rename(name + "_renamed")  # a rename
    listed = _listed(project)
    assert name not in listed and listed[name + "_renamed"]["name"] == name + "_renamed"
    for other, item in listed.items():  # and every item is its dataset's definition as read alone
        assert item == dict(_settings(project, other)), other
