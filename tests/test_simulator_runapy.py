"""The simulator against a client nobody here wrote: runapy, the Python SDK Run:ai publishes
(its generated clients follow the same specs). It authenticates with /api/v1/token, grantType
app_token and "AppId"/"AppSecret" keys, which every version takes; it joins filter lists with
commas."""

from __future__ import annotations

import logging

import pytest
from runai.api.workloads_api import WorkloadsApi
from runai.api_client import ApiClient
from runai.configuration import Configuration

from simulator.versions import VERSIONS


@pytest.mark.parametrize("version", VERSIONS)
def test_runapy_gets_a_token_lists_and_filters(make_simulator, version):
    sim = make_simulator(api_version=version, scale=150)
    config = Configuration(client_id=sim.client_id, client_secret=sim.client_secret,
                           runai_base_url=sim.url, auto_refresh_token=False,
                           retry_enabled=False, logger=logging.getLogger("runapy-test"))
    with ApiClient(config) as client:
        api = WorkloadsApi(client)
        listing = api.get_workloads()
        assert listing.status_code == 200
        assert len(listing.data["workloads"]) == 50 and listing.data["next"] == 50
        failed = api.get_workloads(filter_by=["phase==Failed", "type==Training"], limit=500)
        assert failed.status_code == 200
        rows = failed.data["workloads"]
        assert rows and {(w["phase"], w["type"]) for w in rows} == {("Failed", "Training")}
        # The SDK joins a filter list with commas (explode: false), as the simulator expects.
        count = api.count_workloads(filter_by=["phase==Failed", "type==Training"])
        assert count.status_code == 200 and count.data["count"] == len(rows)
