"""Create, and later delete, the integration suite's own Flow in a project of a real DSS instance.

On a real instance the suite cannot rely on the emulator's example project, so it builds a small copy of the clinical
Flow through the public API (``dataikuapi``): two uploaded source datasets with a few rows, two Group recipes, a Join
and a Python recipe, every object named ``<prefix><clinical name>`` (``FO_TEST_LAB_RESULTS``, ...) and tagged, so the
tests can address the same objects on both targets and the clean-up can never touch anything else.
Leftovers of a run that crashed are removed before creating.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "FO_TEST_"
DEFAULT_CONNECTION = "filesystem_managed"
TEST_TAG = "flow-orchestrator-tests"
_PREFIX_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*[A-Za-z0-9]_$")

SOURCE_DATASETS = ("LAB_RESULTS", "CLINICAL_NOTES")
DERIVED_DATASETS = ("LAB_RESULTS_AGG", "CLINICAL_NOTES_AGG", "ML_TRAINING_DATA", "MODEL_SCORES")
#: In Flow order: each recipe only needs the ones before it.
RECIPES = ("group_LAB_RESULTS_AGG", "group_CLINICAL_NOTES_AGG", "join_ML_TRAINING_DATA", "train_MODEL_SCORES")

LAB_COLUMNS = (("patient_id", "string"), ("test_name", "string"), ("value", "double"), ("abnormal", "boolean"))
LAB_ROWS = (
    ("P001", "glucose", 5.4, False),
    ("P001", "hba1c", 6.9, True),
    ("P001", "ldl_cholesterol", 3.1, False),
    ("P002", "glucose", 7.8, True),
    ("P002", "creatinine", 4.2, False),
    ("P003", "glucose", 5.1, False),
    ("P003", "hemoglobin", 12.5, False),
    ("P003", "hba1c", 5.6, False),
    ("P004", "glucose", 9.3, True),
)
NOTES_COLUMNS = (("note_id", "string"), ("patient_id", "string"), ("department", "string"), ("note_text", "string"))
NOTES_ROWS = (
    ("N0001", "P001", "endocrinology", "Glucose levels trending up; consider adjusting metformin."),
    ("N0002", "P001", "cardiology", "Blood pressure controlled on current medication."),
    ("N0003", "P002", "nephrology", "Renal function stable."),
    ("N0004", "P003", "general medicine", "No acute distress."),
    ("N0005", "P004", "endocrinology", "Family history of diabetes noted."),
    ("N0006", "P004", "general medicine", "Patient signale une légère fièvre."),
)


class RealDSSSetupError(Exception):
    """The test Flow could not be created; the message names the object, the DSS answer and the likely fix."""


@dataclass(frozen=True)
class ClinicalTestFlow:
    """Names of the clinical Flow's objects on one target: ``prefix`` + the clinical name ("" on the emulator)."""

    prefix: str = DEFAULT_PREFIX

    def name(self, clinical_name: str) -> str:
        if clinical_name not in SOURCE_DATASETS + DERIVED_DATASETS + RECIPES:
            raise KeyError(
                f"{clinical_name!r} is not an object of the clinical Flow: use one of "
                f"{', '.join(SOURCE_DATASETS + DERIVED_DATASETS + RECIPES)}"
            )
        return self.prefix + clinical_name

    @property
    def datasets(self) -> List[str]:
        return [self.prefix + n for n in SOURCE_DATASETS + DERIVED_DATASETS]

    @property
    def recipes(self) -> List[str]:
        return [self.prefix + n for n in RECIPES]

    # -- payloads: the same settings as examples/flows/clinical.json, in DSS's own payload format -------------------
    def grouping_payload(self, key: str, values: Sequence[Tuple[str, str, Sequence[str]]]) -> dict:
        """A Group recipe payload: group by ``key``, aggregates per (column, type, [flags]), plus a global count."""
        flags = ("min", "max", "avg", "sum", "count", "countDistinct", "first", "last", "stddev", "concat")
        return {
            "keys": [{"column": key, "type": "string"}],
            "values": [
                dict({"column": column, "type": column_type}, **{f: f in wanted for f in flags})
                for column, column_type, wanted in values
            ],
            "globalCount": True,
            "outputColumnNameOverrides": {},
            "computedColumns": [],
            "preFilter": {"distinct": False, "enabled": False},
            "postFilter": {"distinct": False, "enabled": False},
        }

    def lab_grouping_payload(self) -> dict:
        return self.grouping_payload(
            "patient_id", [("value", "double", ("min", "max", "avg")), ("test_name", "string", ("countDistinct",))]
        )

    def notes_grouping_payload(self) -> dict:
        return self.grouping_payload("patient_id", [("department", "string", ("countDistinct",))])

    def join_payload(self) -> dict:
        """Left join of the two aggregates on patient_id, with explicit (aliased) column selection."""

        def virtual_input(index: int) -> dict:
            return {
                "index": index,
                "autoSelectColumns": False,
                "computedColumns": [],
                "preFilter": {"distinct": False, "enabled": False},
            }

        selected = [
            ("patient_id", "string", 0, None),
            ("value_min", "double", 0, None),
            ("value_max", "double", 0, None),
            ("value_avg", "double", 0, None),
            ("test_name_distinct", "bigint", 0, None),
            ("count", "bigint", 0, "lab_count"),
            ("department_distinct", "bigint", 1, None),
            ("count", "bigint", 1, "note_count"),
        ]
        return {
            "virtualInputs": [virtual_input(0), virtual_input(1)],
            "joins": [
                {
                    "table1": 0,
                    "table2": 1,
                    "type": "LEFT",
                    "conditionsMode": "AND",
                    "outerJoinOnTheLeft": True,
                    "rightLimit": {"enabled": False, "maxMatches": 1, "type": "KEEP_LARGEST", "decisionColumn": {}},
                    "on": [
                        {
                            "column1": {"name": "patient_id", "table": 0},
                            "column2": {"name": "patient_id", "table": 1},
                            "type": "EQ",
                        }
                    ],
                }
            ],
            "selectedColumns": [
                dict({"name": n, "type": t, "table": table}, **({"alias": a} if a else {}))
                for n, t, table, a in selected
            ],
            "computedColumns": [],
            "enableAutoCastInJoinConditions": False,
            "postFilter": {"distinct": False, "enabled": False},
        }

    def python_script(self) -> str:
        """Scores each patient from whatever numeric columns the join produced (robust to DSS's column naming)."""
        return (
            "# Flow Orchestrator integration test recipe: created by tests/integration/real_dss_setup.py\n"
            "import dataiku\n"
            "import numpy as np\n"
            "\n"
            f"df = dataiku.Dataset({self.name('ML_TRAINING_DATA')!r}).get_dataframe()\n"
            "features = [c for c in df.columns if c != 'patient_id' and np.issubdtype(df[c].dtype, np.number)]\n"
            "x = df[features].astype(float)\n"
            "z = ((x - x.mean()) / x.std(ddof=0).replace(0, 1)).fillna(0).sum(axis=1) / max(len(features), 1)\n"
            "scores = df[['patient_id']].copy()\n"
            "scores['score'] = (1 / (1 + np.exp(-z))).round(6)\n"
            "scores['high_risk'] = (scores['score'] >= 0.5).astype(int)\n"
            f"dataiku.Dataset({self.name('MODEL_SCORES')!r}).write_with_schema(scores)\n"
        )


def csv_bytes(columns: Sequence[Tuple[str, str]], rows: Sequence[tuple]) -> bytes:
    """Rows as a UTF-8 CSV with a header line, booleans as true/false (what DSS's CSV reader expects)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([name for name, _ in columns])
    for row in rows:
        writer.writerow([str(v).lower() if isinstance(v, bool) else v for v in row])
    return out.getvalue().encode("utf-8")


def check_prefix(prefix: str) -> None:
    """Refuse prefixes that could match objects the suite did not create (empty, or without a separator)."""
    if not _PREFIX_PATTERN.match(prefix or ""):
        raise ValueError(
            f"Test object prefix {prefix!r} is not allowed: use letters, digits and '_', starting with a letter "
            "and ending with '_', such as 'FO_TEST_', so that clean-up only ever deletes the suite's own objects"
        )


def _describe(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return text if len(text) <= 500 else text[:500] + "…"


def _tag(raw: dict) -> None:
    tags = raw.setdefault("tags", [])
    if TEST_TAG not in tags:
        tags.append(TEST_TAG)


def check_project_access(project) -> dict:
    """Read the project summary first, so a wrong key or project fails once, with the fix, before creating anything."""
    try:
        return project.get_summary()
    except Exception as exc:  # noqa: BLE001 - every failure means the same thing here: no usable project
        raise RealDSSSetupError(
            f"Cannot read project {project.project_key} ({_describe(exc)}). Check DSS_URL, DSS_API_KEY and "
            "DSS_PROJECT: the key's user needs to read the project, write its content and run its jobs."
        ) from exc


def create_source_dataset(project, name: str, columns: Sequence[Tuple[str, str]], rows: Sequence[tuple]) -> None:
    """An uploaded-files dataset holding ``rows`` as CSV, with DSS's detected format and our column types."""
    dataset = project.create_upload_dataset(name)
    dataset.uploaded_add_file(io.BytesIO(csv_bytes(columns, rows)), f"{name.lower()}.csv")
    settings = dataset.autodetect_settings()
    raw = settings.get_raw()
    raw["schema"] = {"columns": [{"name": n, "type": t} for n, t in columns], "userModified": True}
    _tag(raw)
    settings.save()


def _apply_payload(recipe, payload: dict, inputs: Sequence[str]) -> None:
    """Save a visual recipe's settings, make sure its inputs are the intended ones, then update output schemas."""
    settings = recipe.get_settings()
    current = settings.get_json_payload() or {}
    current.update(payload)
    settings.set_json_payload(current)
    present = settings.get_flat_input_refs()
    for ref in inputs:
        if ref not in present:  # the builder's "virtual inputs" are turned into recipe inputs by DSS only
            settings.add_input("main", ref)
    _tag(settings.get_recipe_raw_definition())
    settings.save()
    updates = recipe.compute_schema_updates()
    if updates.any_action_required():
        updates.apply()


def create_recipes(project, flow: ClinicalTestFlow, connection: str = DEFAULT_CONNECTION) -> None:
    """The four recipes of the clinical Flow and their managed outputs; the sources must exist."""
    n = flow.name
    for source, output, recipe_name, payload in (
        ("LAB_RESULTS", "LAB_RESULTS_AGG", "group_LAB_RESULTS_AGG", flow.lab_grouping_payload()),
        ("CLINICAL_NOTES", "CLINICAL_NOTES_AGG", "group_CLINICAL_NOTES_AGG", flow.notes_grouping_payload()),
    ):
        recipe = (
            project.new_recipe("grouping", n(recipe_name))
            .with_input(n(source))
            .with_new_output(n(output), connection)
            .with_group_key("patient_id")
            .create()
        )
        _apply_payload(recipe, payload, [n(source)])

    join_inputs = [n("LAB_RESULTS_AGG"), n("CLINICAL_NOTES_AGG")]
    builder = project.new_recipe("join", n("join_ML_TRAINING_DATA"))
    for ref in join_inputs:
        builder.with_input(ref)
    recipe = builder.with_new_output(n("ML_TRAINING_DATA"), connection).create()
    _apply_payload(recipe, flow.join_payload(), join_inputs)

    project.new_managed_dataset(n("MODEL_SCORES")).with_store_into(connection).create()
    recipe = (
        project.new_recipe("python", n("train_MODEL_SCORES"))
        .with_input(n("ML_TRAINING_DATA"))
        .with_output(n("MODEL_SCORES"))
        .with_script(flow.python_script())
        .create()
    )
    settings = recipe.get_settings()
    _tag(settings.get_recipe_raw_definition())
    settings.save()

    for output in DERIVED_DATASETS:
        dataset_settings = project.get_dataset(n(output)).get_settings()
        _tag(dataset_settings.get_raw())
        dataset_settings.save()


def delete_test_objects(project, prefix: str = DEFAULT_PREFIX) -> List[str]:
    """Delete every Flow zone, recipe, then dataset (with its data) whose name starts with ``prefix``; returns the
    names. Deleting a zone returns its objects to the default zone."""
    check_prefix(prefix)
    deleted: List[str] = []
    for zone in project.get_flow().list_zones():
        if zone.name.startswith(prefix):
            zone.delete()
            deleted.append(zone.name)
    for item in project.list_recipes():
        if item["name"].startswith(prefix):
            project.get_recipe(item["name"]).delete()
            deleted.append(item["name"])
    for item in project.list_datasets():
        if item["name"].startswith(prefix):
            project.get_dataset(item["name"]).delete(drop_data=True)
            deleted.append(item["name"])
    return deleted


def create_clinical_test_flow(
    project, prefix: str = DEFAULT_PREFIX, connection: str = DEFAULT_CONNECTION
) -> ClinicalTestFlow:
    """Create the test Flow in ``project`` (after removing leftovers); on failure, remove what was created."""
    check_prefix(prefix)
    check_project_access(project)
    leftovers = delete_test_objects(project, prefix)
    if leftovers:
        log.warning("Removed %d objects left by an earlier test run: %s", len(leftovers), ", ".join(leftovers))
    flow = ClinicalTestFlow(prefix)
    step = "creating the source datasets"
    try:
        create_source_dataset(project, flow.name("LAB_RESULTS"), LAB_COLUMNS, LAB_ROWS)
        create_source_dataset(project, flow.name("CLINICAL_NOTES"), NOTES_COLUMNS, NOTES_ROWS)
        step = f"creating the recipes on connection {connection!r}"
        create_recipes(project, flow, connection)
    except Exception as exc:
        try:
            delete_test_objects(project, prefix)
        except Exception as cleanup_exc:  # noqa: BLE001 - report both, the creation failure first
            log.error("Could not remove the partial test Flow: %s", _describe(cleanup_exc))
        raise RealDSSSetupError(
            f"Creating the test Flow in project {project.project_key} failed while {step}: {_describe(exc)}. "
            "The key's user needs 'Write project content'; set DSS_CONNECTION to a managed-dataset connection "
            "of the instance if 'filesystem_managed' does not exist."
        ) from exc
    return flow


def expected_layout(flow: ClinicalTestFlow) -> Dict[str, Tuple[List[str], List[str]]]:
    """recipe name -> (inputs, outputs) that the created Flow must have."""
    n = flow.name
    return {
        n("group_LAB_RESULTS_AGG"): ([n("LAB_RESULTS")], [n("LAB_RESULTS_AGG")]),
        n("group_CLINICAL_NOTES_AGG"): ([n("CLINICAL_NOTES")], [n("CLINICAL_NOTES_AGG")]),
        n("join_ML_TRAINING_DATA"): ([n("LAB_RESULTS_AGG"), n("CLINICAL_NOTES_AGG")], [n("ML_TRAINING_DATA")]),
        n("train_MODEL_SCORES"): ([n("ML_TRAINING_DATA")], [n("MODEL_SCORES")]),
    }


def describe_layout(project, flow: ClinicalTestFlow) -> Dict[str, Tuple[List[str], List[str]]]:
    """recipe name -> (inputs, outputs) as the instance reports them, for the test Flow's recipes."""
    layout = {}
    for name in flow.recipes:
        settings = project.get_recipe(name).get_settings()
        layout[name] = (settings.get_flat_input_refs(), settings.get_flat_output_refs())
    return layout
