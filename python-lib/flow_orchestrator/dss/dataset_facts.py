"""Dataset facts for verification: existence, schema, last build, row counts (computed when stale), DSS rule results.

Part of the adapter: the use case (:mod:`flow_orchestrator.verification`) reaches it through
:meth:`~flow_orchestrator.dss.gateway.DSSGateway.dataset_facts` and reads exactly what the expectations need.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

import requests

from ..errors import DSSPermissionError
from ..expectations import ROW_COUNT_METRIC, DatasetFacts, FactsNeeded
from ..port import TransientAPIError, split_dataset_ref
from ..text import did_you_mean, one_line
from .client import METRIC_TIMEOUT_S, is_dss_answer
from .payloads import last_build_from_info

#: A count that took at least this long is noted in the report (the user sees where the time went).
SLOW_COUNT_NOTE_S = 10.0


def _as_count(value: Any) -> Optional[int]:
    try:
        return None if value is None else int(float(value))
    except (TypeError, ValueError):
        return None


class VerificationGateway:
    """The DSS reads of a verification, through ``gateway.call`` (same error mapping as the rest of the library)."""

    def __init__(
        self,
        gateway,
        *,
        clock: Callable[[], float] = time.monotonic,
        metric_timeout_s: float = METRIC_TIMEOUT_S,
        built_partitions: Optional[Mapping[str, Sequence[str]]] = None,
    ):
        self.gateway = gateway
        self._clock = clock
        self._metric_timeout_s = metric_timeout_s
        self._names: Dict[str, Set[str]] = {}
        self._partitioned: Dict[str, Set[str]] = {}
        #: dataset ref -> the partition ids a run built in it (a spec's items; ranges are counted on ALL instead)
        self._built_partitions: Dict[str, List[str]] = {
            ref: ids for ref, ids in (built_partitions or {}).items() if ids and not any("/" in i for i in ids)
        }
        self._rules_offered: Optional[bool] = None
        self.notes: List[str] = []

    @property
    def project_key(self) -> str:
        return self.gateway.project_key

    def _project(self, owner: str):
        if owner == self.gateway.project_key:
            return self.gateway.project
        return self.gateway.client.get_project(owner)

    def _dataset(self, ref: str):
        owner, name = split_dataset_ref(ref, self.project_key)
        return self._project(owner).get_dataset(name)

    def dataset_names(self, owner: Optional[str] = None) -> Set[str]:
        owner = owner or self.project_key
        if owner not in self._names:
            if owner == self.project_key:
                items = self.gateway.list_datasets()
            else:
                items = self.gateway.call(f"Listing datasets of project {owner}", self._project(owner).list_datasets)
            self._names[owner] = {str(item.get("name")) for item in items if item.get("name")}
            self._partitioned[owner] = {
                str(item.get("name"))
                for item in items
                if ((item.get("partitioning") or {}).get("dimensions") if isinstance(item, Mapping) else None)
            }
        return self._names[owner]

    def exists(self, ref: str) -> bool:
        owner, name = split_dataset_ref(ref, self.project_key)
        return name in self.dataset_names(owner)

    def columns(self, ref: str) -> List[dict]:
        schema = self.gateway.call(f"Reading schema of {ref}", self._dataset(ref).get_schema)
        return [dict(column) for column in (schema or {}).get("columns") or []]

    def last_build(self, ref: str) -> Optional[dict]:
        info = self.gateway.call(f"Reading build info of {ref}", self._dataset(ref).get_info)
        return last_build_from_info(info)

    def _last_row_count(self, ref: str) -> Tuple[Optional[int], Optional[int]]:
        """(value, computed at in ms) of the last ``records:COUNT_RECORDS`` of the whole dataset, (None, None) if never."""
        value, computed_ms = self.gateway.last_metric_value(ref, ROW_COUNT_METRIC, self._whole(ref))
        return _as_count(value), computed_ms

    def _whole(self, ref: str) -> str:
        """The partition id DSS files a dataset's whole-data metrics under: ``ALL`` when partitioned, else ``NP``."""
        return "ALL" if self.partitioned(ref) else "NP"

    def partitioned(self, ref: str) -> bool:
        owner, name = split_dataset_ref(ref, self.project_key)
        self.dataset_names(owner)
        return name in self._partitioned.get(owner, set())

    def row_count(self, ref: str, last_build: Optional[dict]) -> Tuple[Optional[int], bool, bool]:
        """(count, stale, computed): the metric, recomputed when missing or older than the last build.

        A partitioned dataset whose partitions this run built is counted on those partitions (DSS keeps metrics per
        partition), the others on the whole data (``NP``, or ``ALL`` when partitioned).
        """
        built_ms = None
        if last_build:
            built_ms = last_build.get("end_ms") or last_build.get("start_ms")
        partitions = self._built_partitions.get(ref) if self.partitioned(ref) else None
        if not partitions:
            return self._count(ref, self._whole(ref), built_ms)
        total, any_stale, any_computed = 0, False, False
        for partition in partitions:
            count, stale, computed = self._count(ref, partition, built_ms)
            if count is None:
                return None, stale, computed
            total, any_stale, any_computed = total + count, any_stale or stale, any_computed or computed
        self.notes.append(f"{ref}: rows counted in the partitions this run built ({', '.join(partitions)})")
        return total, any_stale, any_computed

    def _count(self, ref: str, partition: str, built_ms: Optional[int]) -> Tuple[Optional[int], bool, bool]:
        """(count, stale, computed) of one partition id (``NP``/``ALL``: the whole dataset).

        A user who may not compute metrics (DSS needs *Write project content* for that) gets the last value, with a
        note saying it may be stale; a count DSS does not finish within the count time limit is noted the same way.
        """
        raw, measured_ms = self.gateway.last_metric_value(ref, ROW_COUNT_METRIC, partition)
        value = _as_count(raw)
        stale = value is None or (built_ms is not None and (measured_ms is None or measured_ms < built_ms))
        if not stale:
            return value, False, False
        try:
            computed, took_s = self.gateway.compute_metric(
                ref, ROW_COUNT_METRIC, partition=partition, timeout_s=self._metric_timeout_s
            )
        except DSSPermissionError:
            self.notes.append(
                f"{ref}: this user may not compute metrics (DSS needs the project permission 'Write project "
                "content' for that), so the last row count DSS computed is used"
                + (": it may be stale (older than the last build)" if value is not None else ", and there is none")
            )
            return value, value is not None, False
        except TransientAPIError as error:
            if not isinstance(error.__cause__, requests.exceptions.Timeout):
                raise
            self.notes.append(
                f"{ref}: DSS did not finish counting the rows within {self._metric_timeout_s:g} s (the count time "
                "limit); " + ("the last count, older than the last build, is used" if value is not None else "no count")
            )
            return value, value is not None, False
        except Exception as error:  # noqa: BLE001 - DSS answered an error (e.g. no data yet): say so and go on
            if not is_dss_answer(error):
                raise
            self.notes.append(f"{ref}: the row count could not be computed ({one_line(error)})")
            return value, value is not None, False
        if took_s >= SLOW_COUNT_NOTE_S:
            self.notes.append(f"{ref}: DSS took {took_s:.0f} s to count the rows")
        count = _as_count(computed)
        if count is None:
            count = _as_count(self.gateway.last_metric_value(ref, ROW_COUNT_METRIC, partition)[0])
        return count, False, count is not None

    def rule_results(self, ref: str) -> Optional[List[dict]]:
        """The last results of the dataset's data-quality rules; None when the instance does not offer them."""
        if self._rules_offered is False:
            return None
        try:
            results = self.gateway.data_quality_rule_results(ref)
        except Exception as error:  # noqa: BLE001 - DSS answered an error: say so and go on
            if not is_dss_answer(error):
                raise
            self.notes.append(f"{ref}: the data-quality rules could not be read ({one_line(error)})")
            return None
        self._rules_offered = results is not None
        return results

    def facts(
        self, needs: Mapping[str, FactsNeeded], run_started_at_ms: Optional[int] = None
    ) -> Dict[str, DatasetFacts]:
        """Exactly the facts each dataset's expectations need (existence always)."""
        found: Dict[str, DatasetFacts] = {}
        for ref, need in needs.items():
            if not self.exists(ref):
                owner, name = split_dataset_ref(ref, self.project_key)
                hint = did_you_mean(name, self.dataset_names(owner), n=1)
                if hint:
                    self.notes.append(f"{ref}: no such dataset in project {owner}{hint}")
                found[ref] = DatasetFacts(exists=False, run_started_at_ms=run_started_at_ms)
                continue
            last_build = self.last_build(ref) if (need.last_build or need.row_count) else None
            count, stale, computed = (None, False, False)
            if need.row_count:
                count, stale, computed = self.row_count(ref, last_build)
            found[ref] = DatasetFacts(
                exists=True,
                columns=self.columns(ref) if need.columns else None,
                last_build=last_build,
                row_count=count,
                row_count_stale=stale,
                row_count_computed=computed,
                dss_rule_results=self.rule_results(ref) if need.dss_rules else None,
                run_started_at_ms=run_started_at_ms,
            )
        return found


__all__ = ["SLOW_COUNT_NOTE_S", "VerificationGateway"]
