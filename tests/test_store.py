from budgetnas.store import Store


def test_store_round_trip_and_resume(tmp_path):
    path = tmp_path / "runs" / "store.sqlite"
    with Store(path) as s:
        s.put("bench", "a/1", {"regret": 0.5})
        s.put_many("bench", {"a/2": [1, 2], "b/1": "x"})
        s.put("other", "a/1", 3)
    with Store(path) as s:  # a new process sees everything written before
        assert s.get("bench", "a/1") == {"regret": 0.5}
        assert [k for k, _ in s.items("bench", prefix="a/")] == ["a/1", "a/2"]
        assert ("bench", "b/1") in s and ("bench", "zz") not in s
        assert s.get("bench", "missing", default=7) == 7
        assert s.kinds() == ["bench", "other"]
        assert s.delete("bench", "a/") == 2
        assert s.get("bench", "a/1") is None
