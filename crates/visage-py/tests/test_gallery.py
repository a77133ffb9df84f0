"""visage.Gallery: the CLI's consent rules, identification, erasure, export and audit, in a temp data dir."""

import json

import pytest

import visage

CONSENT = dict(purpose="office-access", evidence="form-42")


@pytest.fixture
def gallery(tmp_path):
    return visage.Gallery(tmp_path / "gallery")


def subject_ids(gallery):
    return [row["subject"]["id"] for row in gallery.subjects()]


def test_enrolment_needs_a_purpose_and_an_evidence(gallery, portraits):
    face = portraits(0, 0)
    with pytest.raises(TypeError, match="purpose"):
        gallery.enroll("alice", face, evidence="form-42")
    with pytest.raises(TypeError, match="evidence"):
        gallery.enroll("alice", face, purpose="office-access")
    for blank in [dict(purpose=" ", evidence="form-42"), dict(purpose="office-access", evidence="")]:
        with pytest.raises(visage.InvalidRequestError, match="consent needs a purpose and an evidence") as e:
            gallery.enroll("alice", face, **blank)
        assert e.value.code == "invalid_request"
    assert subject_ids(gallery) == []


def test_bad_subject_ids_and_dates_are_refused(gallery, portraits):
    with pytest.raises(visage.InvalidRequestError) as e:
        gallery.enroll("no spaces", portraits(0, 0), **CONSENT)
    assert e.value.code == "invalid_subject_id"
    with pytest.raises(visage.InvalidRequestError, match="invalid date"):
        gallery.enroll("alice", portraits(0, 0), expires="next tuesday", **CONSENT)
    assert subject_ids(gallery) == []


def test_enrol_identify_export_revoke_delete(gallery, portraits, photos, app):
    out = gallery.enroll("alice", [portraits(0, 0)], name="Alice", **CONSENT)
    assert out["subject"] == "alice" and len(out["templates"]) == 1
    assert subject_ids(gallery) == ["alice"]

    found = gallery.identify(photos[0])
    assert len(found["faces"]) == len(app.get(photos[0]))
    matches = [f["match"] for f in found["faces"]]
    assert matches.count("alice") == 1 and matches.count(None) == len(matches) - 1, matches
    best = max(found["faces"], key=lambda f: f["similarity"])
    assert best["match"] == "alice" and best["similarity"] >= found["threshold"]
    assert gallery.identify(visage.imread(photos[0]))["faces"][0]["match"] == found["faces"][0]["match"]

    with pytest.raises(visage.DuplicateError) as e:
        gallery.enroll("alice-again", portraits(0, 0), **CONSENT)
    assert e.value.code == "duplicate_subject" and "alice" in str(e.value)

    export = gallery.export("alice")
    assert [(c["purpose"], c["evidence"]) for c in export["consents"]] == [("office-access", "form-42")]
    assert len(export["templates"]) == 1 and "embedding" not in json.dumps(export["templates"])
    assert "embedding" in json.dumps(gallery.export("alice", include_templates=True)["templates"])

    assert gallery.revoke_consent("alice") == 1
    assert all(f["match"] is None for f in gallery.identify(photos[0])["faces"])

    gallery.enroll("bob", portraits(1, 0), **CONSENT)
    assert gallery.delete("bob") == 1
    with pytest.raises(visage.UnknownSubjectError) as e:
        gallery.delete("bob")
    assert e.value.code == "unknown_subject"
    audit = gallery.audit_verify()
    assert audit["intact"] is True and audit["entries"] > 5


def test_an_enrolment_with_several_faces_is_refused(gallery, photos):
    with pytest.raises(visage.SeveralFacesError):
        gallery.enroll("group", photos[0], **CONSENT)
    assert subject_ids(gallery) == []


def test_the_cli_sees_the_same_gallery_and_audit_log(tmp_path, portraits, cli):
    data = tmp_path / "shared"
    gallery = visage.Gallery(data, actor="python:test")
    gallery.enroll("carol", portraits(2, 0), **CONSENT)
    cli.data_dir = data
    (rows,) = cli.json_lines("subjects", "--json")
    assert [r["subject"]["id"] for r in rows] == ["carol"]
    (entries,) = cli.json_lines("audit", "show", "--json", "--subject", "carol")
    assert any(e["action"] == "enroll" and e["actor"] == "python:test" for e in entries), entries
    assert cli.run("audit", "verify").returncode == 0


def test_identify_decides_like_visage_identify(tmp_path, portraits, photos, cli):
    data = tmp_path / "shared"
    gallery = visage.Gallery(data)
    gallery.enroll("alice", portraits(0, 0), **CONSENT)
    gallery.enroll("bob", portraits(1, 0), **CONSENT)
    cli.data_dir = data
    for args, kwargs in [((), {}), (("--top-k", "1", "--threshold", "0.9"), dict(top_k=1, threshold=0.9))]:
        (theirs,) = cli.json_lines("identify", "--json", *args, photos[0])
        mine = gallery.identify(photos[0], **kwargs)
        assert set(mine) == set(theirs) and mine["threshold"] == pytest.approx(theirs["threshold"], abs=1e-6)
        assert len(mine["faces"]) == len(theirs["faces"]) > 2
        for a, b in zip(mine["faces"], theirs["faces"]):
            assert a["match"] == b["match"]
            assert a["similarity"] == pytest.approx(b["similarity"], abs=1e-5)
            assert [c["subject"] for c in a["candidates"]] == [c["subject"] for c in b["candidates"]]
    for threshold in [0.2, 0.9, 1.0]:
        decided = gallery.identify(photos[0], threshold=threshold)
        assert decided["threshold"] == pytest.approx(threshold)
        for f in decided["faces"]:
            assert (f["match"] is not None) == (f["similarity"] >= threshold), (threshold, f)
    assert all(len(f["candidates"]) <= 1 for f in gallery.identify(photos[0], top_k=1)["faces"])
    with pytest.raises(visage.InvalidRequestError, match="top_k"):
        gallery.identify(photos[0], top_k=0)


def test_identify_with_liveness_and_target_far(gallery, portraits, photos):
    gallery.enroll("alice", portraits(0, 0), **CONSENT)
    live = gallery.identify(photos[0], require_live=True)
    assert 0 < live["liveness_threshold"] < 1
    assert all(0 <= f["liveness"]["score"] <= 1 for f in live["faces"])
    assert "liveness_threshold" not in gallery.identify(photos[0])
    with pytest.raises(visage.CalibrationError) as e:
        gallery.identify(photos[0], target_far=1e-3)
    assert e.value.code == "no_calibration"


def test_gallery_verify_is_audited(tmp_path, portraits, cli):
    data = tmp_path / "shared"
    gallery = visage.Gallery(data, actor="python:test")
    face, mirrored = portraits(0, 0), portraits(0, 0)[:, ::-1]
    v = gallery.verify(face, mirrored)
    assert v["match"] is True and v["images"][0]["image"] == "<array>"
    assert v["similarity"] == pytest.approx(visage.verify(face, mirrored)["similarity"], abs=1e-6)
    cli.data_dir = data
    (entries,) = cli.json_lines("audit", "show", "--json")
    verifies = [e for e in entries if e["action"] == "verify"]
    assert [(e["actor"], e["outcome"]) for e in verifies] == [("python:test", "match")], entries


def test_identify_for_a_purpose_searches_only_subjects_consented_for_it(tmp_path, portraits, photos, cli):
    data = tmp_path / "shared"
    gallery = visage.Gallery(data, actor="python:test")
    gallery.enroll("alice", portraits(0, 0), purpose="office-access", evidence="form-42")
    gallery.enroll("bob", portraits(0, 1), purpose="marketing", evidence="form-43")

    def matched(purpose):
        return sorted(f["match"] for f in gallery.identify(photos[0], top_k=1, purpose=purpose)["faces"] if f["match"])

    assert matched(None) == ["alice", "bob"]
    assert matched("office-access") == ["alice"]
    assert matched("marketing") == ["bob"]
    assert matched("research") == []
    cli.data_dir = data
    (theirs,) = cli.json_lines("identify", "--json", "--top-k", "1", "--purpose", "marketing", photos[0])
    assert sorted(f["match"] for f in theirs["faces"] if f["match"]) == ["bob"]
    (entries,) = cli.json_lines("audit", "show", "--json")
    purposes = {e["detail"].get("purpose") for e in entries if e["action"] == "identify" and e["actor"] == "python:test"}
    assert purposes >= {"office-access", "marketing", "research"}, entries


def test_a_gallery_keeps_the_recogniser_it_was_enrolled_with(tmp_path, portraits):
    sface = visage.Gallery(tmp_path / "g", recognizer="sface")
    sface.enroll("alice", portraits(0, 0), **CONSENT)
    found = sface.identify(portraits(0, 0))["faces"][0]
    assert found["match"] == "alice" and found["similarity"] > 0.99, found
    # Another recogniser cannot compare with SFace templates: refused, naming the one that can.
    with pytest.raises(visage.InvalidRequestError, match=r"1 template\(s\) of --recognizer sface"):
        visage.Gallery(tmp_path / "g")
    with pytest.raises(visage.InvalidRequestError, match="unknown recognizer 'facenet'"):
        visage.Gallery(tmp_path / "g", recognizer="facenet")


def test_face_analysis_embeds_with_the_recogniser_asked_for(portraits):
    for recognizer, dim in [("sface", 128), ("fusion", 640)]:
        faces = visage.FaceAnalysis(recognizer=recognizer).get(portraits(0, 0))
        assert len(faces) == 1 and faces[0].embedding.shape == (dim,), recognizer
