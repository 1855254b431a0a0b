"""Labels over a real server: store examples, train the classifier through Dagster (202 at once,
then the run's status), read the evaluation, get the next shots to label; bad input is a 422
naming the field; a title whose licence forbids search indexing can be neither labelled nor
suggested."""

from __future__ import annotations

import time

import pytest

LABEL = "api-cartoon"


def _ids(api_home, name: str) -> list[str]:
    key = api_home.keys[name]
    return [f"{key}:{row['shot']}" for row in api_home.show(name, "shots")]


def _wait_for_run(api_server, status_url: str, timeout_s: float = 240.0) -> dict:
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline:
        status = api_server.get(status_url)
        assert status.status_code == 200, status.text
        body = status.json()
        seen.append(body["status"])
        if body["done"]:
            return {**body, "seen": seen}
        time.sleep(0.25)
    raise AssertionError(f"run not done after {timeout_s} s: {seen[-5:]}")


@pytest.fixture(scope="module")
def labelled(api_server, api_home) -> dict:
    bunny, goldeneye = _ids(api_home, "bunny"), _ids(api_home, "goldeneye")
    assert len(bunny) >= 4 and len(goldeneye) >= 3
    positives, negatives = bunny[:3], goldeneye[:3]  # a cartoon, and a live-action film
    response = api_server.post(f"/labels/{LABEL}", json={"positive": positives, "negative": negatives, "editor": "ann"})
    assert response.status_code == 200, response.text
    return {"positives": positives, "negatives": negatives, "answer": response.json()}


def test_label_examples_are_stored_and_idempotent(api_server, labelled) -> None:
    answer = labelled["answer"]
    n_pos, n_neg = len(labelled["positives"]), len(labelled["negatives"])
    assert answer == {"label": LABEL, "added": n_pos + n_neg, "unchanged": 0, "removed": 0,
                      "positives": n_pos, "negatives": n_neg}
    again = api_server.post(f"/labels/{LABEL}", json={"positive": labelled["positives"]})
    assert again.status_code == 200 and again.json()["unchanged"] == n_pos and again.json()["added"] == 0
    detail = api_server.get(f"/labels/{LABEL}").json()
    assert detail["positives"] == n_pos and detail["negatives"] == n_neg
    assert {e["id"]: e["positive"] for e in detail["examples"]} == {
        **{i: True for i in labelled["positives"]}, **{i: False for i in labelled["negatives"]}}
    assert all(e["editor"] == "ann" for e in detail["examples"])


def test_label_train_evaluation_suggestions(api_server, api_home, labelled) -> None:
    started = time.monotonic()
    launched = api_server.post(f"/labels/{LABEL}/train")
    answered_s = time.monotonic() - started
    assert launched.status_code == 202, launched.text
    body = launched.json()
    assert set(body) >= {"run_id", "status_url", "dagster_url"}
    assert body["status_url"] == f"/runs/{body['run_id']}" and body["dagster_url"].endswith(f"/runs/{body['run_id']}")
    assert answered_s < 5.0  # the request does not wait for the training
    run = _wait_for_run(api_server, body["status_url"])
    assert run["status"] == "SUCCESS", run
    assert set(run["seen"]) <= {"QUEUED", "STARTING", "NOT_STARTED", "STARTED", "SUCCESS"}

    detail = api_server.get(f"/labels/{LABEL}").json()
    clf = detail["classifier"]
    assert clf is not None and clf["version"] >= 1
    assert clf["positives"] == len(labelled["positives"]) and clf["negatives"] == len(labelled["negatives"])
    assert 0.0 <= clf["average_precision"] <= 1.0 and clf["folds"] >= 2

    found = api_server.get(f"/labels/{LABEL}/suggestions", params={"limit": 5})
    assert found.status_code == 200, found.text
    out = found.json()
    assert out["label"] == LABEL and out["scorer"].startswith(f"classifier {LABEL}@v{clf['version']}")
    suggestions = out["suggestions"]
    labelled_ids = set(labelled["positives"]) | set(labelled["negatives"])
    unlabelled = {i for name in ("bunny", "counter", "goldeneye") for i in _ids(api_home, name)} - labelled_ids
    assert {s["id"] for s in suggestions} == unlabelled  # every visible unlabelled shot, and only those
    for s in suggestions:
        assert s["id"] not in labelled_ids
        assert s["feed"] in {"top_positive", "top_negative", "borderline", "random"}
        assert {"id", "partition", "title", "shot", "start", "end", "keyframe_url", "media_url", "label_score"} <= set(s)
        assert s["partition"] != api_home.keys["hidden"] and s["title"] != "Hidden Title"


def test_the_status_of_an_unknown_run_is_404(api_server) -> None:
    assert api_server.get("/runs/00000000-0000-4000-8000-000000000000").status_code == 404


def test_training_with_too_few_examples_is_422(api_server, api_home) -> None:
    bunny = _ids(api_home, "bunny")
    assert api_server.post("/labels/api-few", json={"positive": bunny[:1]}).status_code == 200
    refused = api_server.post("/labels/api-few/train")
    assert refused.status_code == 422
    [problem] = refused.json()["detail"]
    assert problem["loc"] == ["path", "label"] and "at least 3" in problem["msg"]


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({}, "positive", "at least one"),
        ({"positive": ["no-colon"]}, "positive", "PARTITION:SHOT"),
        ({"negative": ["unknown-episode-00000000:0"]}, "negative", "unknown partition"),
        ({"positive": "not-a-list"}, "positive", "list"),
        ({"positive": ["x:1"], "editor": "x" * 500}, "editor", "at most 200"),
    ],
)
def test_bad_label_requests_are_422_naming_the_field(api_server, body: dict, field: str, reason: str) -> None:
    response = api_server.post(f"/labels/{LABEL}-bad", json=body)
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["loc"][0] == "body" and problem["loc"][1] == field and reason in problem["msg"], problem


def test_unknown_shot_and_contradiction(api_server, api_home) -> None:
    bunny = api_home.keys["bunny"]
    unknown = api_server.post("/labels/api-dusk", json={"positive": [f"{bunny}:999"]})
    assert unknown.status_code == 422 and "unknown shot" in unknown.json()["detail"][0]["msg"]
    both = api_server.post("/labels/api-dusk", json={"positive": [f"{bunny}:0"], "negative": [f"{bunny}:0"]})
    assert both.status_code == 422 and f"{bunny}:0" in both.json()["detail"][0]["msg"]
    assert api_server.get("/labels/never-labelled-api").status_code == 404
    no_examples = api_server.get("/labels/never-labelled-api/suggestions")
    assert no_examples.status_code == 422 and "no examples" in no_examples.json()["detail"][0]["msg"]


def test_a_hidden_title_cannot_be_labelled(api_server, api_home) -> None:
    hidden = api_home.keys["hidden"]
    refused = api_server.post("/labels/api-hidden", json={"positive": [f"{hidden}:0"]})
    assert refused.status_code == 422
    [problem] = refused.json()["detail"]
    assert problem["loc"] == ["body", "positive"] and "unknown partition" in problem["msg"]
    assert "Hidden Title" not in refused.text


def test_a_fresh_server_trains_and_labels_at_the_same_time(api_home, labelled) -> None:
    """Regression: the training worker and a request loaded the code location together; one of
    them saw a half-executed ``definitions`` module (AttributeError: no add_label_partition)."""
    from concurrent.futures import ThreadPoolExecutor

    from api_harness import ApiServer

    with ApiServer(api_home.env) as fresh, ThreadPoolExecutor(4) as pool:
        classifier = fresh.get(f"/labels/{LABEL}").json()["classifier"]
        before = classifier["version"] if classifier else 0
        train = pool.submit(fresh.post, f"/labels/{LABEL}/train")
        labels = [pool.submit(fresh.post, f"/labels/{LABEL}", json={"positive": labelled["positives"][:1]})
                  for _ in range(3)]
        assert [f.result().status_code for f in labels] == [200, 200, 200]
        launched = train.result()
        assert launched.status_code == 202
        run = _wait_for_run(fresh, launched.json()["status_url"])
        assert run["status"] == "SUCCESS", (run, fresh.log())
        assert fresh.get(f"/labels/{LABEL}").json()["classifier"]["version"] >= max(before, 1)
