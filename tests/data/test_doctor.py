from automl.engine.data import check_dataset, check_job_data, read_dataset

from .conftest import box, classification_rows, write_image, write_table

MC, OD = "image_classification", "image_object_detection"


def _job(task, train, valid=None):
    job = {"task": task, "target_column_name": "label", "training_data": {"path": str(train)}}
    if valid is not None:
        job["validation_data"] = {"path": str(valid)}
    return job


def test_missing_unreadable_and_truncated_images_are_named_with_file_and_line(tmp_path):
    folder = tmp_path / "imgs"
    rows = classification_rows(folder, ["a", "b"] * 5)
    (folder / "images" / "garbage.jpg").write_bytes(b"not an image at all")
    good = (folder / "images" / "img0.jpg").read_bytes()
    (folder / "images" / "cut.jpg").write_bytes(good[: len(good) // 2])
    rows += [
        {"image_url": "images/nope.jpg", "label": "a"},
        {"image_url": "images/garbage.jpg", "label": "a"},
        {"image_url": "images/cut.jpg", "label": "a"},
    ]
    write_table(folder, rows)
    records, report = read_dataset(folder, MC)
    assert len(records) == 10
    missing, garbage, cut = report.problems
    assert "annotations.jsonl:11: image 'images/nope.jpg'" in missing and "not found" in missing
    assert "annotations.jsonl:12" in garbage and "not an image" in garbage
    assert "annotations.jsonl:13" in cut and "truncated" in cut


def test_label_shape_box_and_polygon_problems_carry_the_line(tmp_path):
    folder = tmp_path / "det"
    write_image(folder / "a.jpg")
    rows = [
        {"image_url": "a.jpg", "label": [box(x1=-0.2)]},
        {"image_url": "a.jpg", "label": [box(x1=0.9, x2=0.1)]},
        {"image_url": "a.jpg", "label": "cat"},
    ]
    write_table(folder, rows)
    _, report = read_dataset(folder, OD)
    assert "annotations.jsonl:1: object 0: box outside [0, 1]" in report.problems[0]
    assert "annotations.jsonl:2: object 0: box inverted" in report.problems[1]
    assert "annotations.jsonl:3: label 'cat' is not a list of objects" in report.problems[2]
    seg = tmp_path / "seg"
    write_image(seg / "a.jpg")
    write_table(seg, [{"image_url": "a.jpg", "label": [{"label": "x", "polygon": [[0, 0, 1, 1]]}]}])
    _, report = read_dataset(seg, "image_instance_segmentation")
    assert "annotations.jsonl:1: object 0: polygon 0: has 2 points" in report.problems[0]


def test_validation_label_never_seen_in_training(tmp_path, multiclass_table):
    valid = tmp_path / "valid"
    write_table(valid, classification_rows(valid, ["a", "zebra"], start=50))
    report = check_job_data(_job(MC, multiclass_table, valid))
    assert len(report.problems) == 1
    assert "annotations.jsonl:2: label 'zebra'" in report.problems[0]
    assert "never appears in the training data" in report.problems[0]


def test_leakage_is_a_warning_and_the_leaked_copies_leave_validation(tmp_path, multiclass_table):
    valid = tmp_path / "valid"
    # img0 and img1 have the same pixels as training's img0/img1; img60 is new
    write_table(valid, classification_rows(valid, ["a", "b"], start=0))
    rows = classification_rows(valid, ["a", "b"], start=0) + classification_rows(
        valid, ["a"], start=60
    )
    write_table(valid, rows)
    report = check_job_data(_job(MC, multiclass_table, valid))
    assert report.ok, report.problems
    (warning,) = [w for w in report.warnings if "leakage" in w]
    assert warning.startswith("2 of 3 validation images are identical to training images")
    assert "valid/annotations.jsonl:1 = " in warning and "mc/annotations.jsonl:1" in warning
    assert "valid/annotations.jsonl:2 = " in warning and "left out of the validation" in warning
    assert report.summary["leaked_validation_images"] == 2
    assert report.summary["valid"]["images"] == 1


def test_validation_that_is_all_training_data_is_a_problem(tmp_path, multiclass_table):
    report = check_job_data(_job(MC, multiclass_table, multiclass_table))
    assert len(report.problems) == 1
    assert "all 12 images are identical to training images" in report.problems[0]


def test_duplicates_inside_validation_are_a_warning_naming_the_lines(tmp_path, multiclass_table):
    valid = tmp_path / "valid"
    rows = classification_rows(valid, ["a", "b"], start=50)
    write_table(valid, rows + [dict(rows[0])])
    report = check_job_data(_job(MC, multiclass_table, valid))
    assert report.ok, report.problems
    (warning,) = [w for w in report.warnings if w.startswith("validation data:")]
    assert "appear more than once (same content)" in warning and "(1 such images)" in warning
    assert "valid/annotations.jsonl:1 = " in warning
    assert warning.endswith("valid/annotations.jsonl:3")


def test_fewer_than_ten_images(tmp_path):
    folder = tmp_path / "few"
    write_table(folder, classification_rows(folder, ["a", "b"] * 4))
    report = check_dataset(folder, MC)
    assert len(report.problems) == 1 and "8 usable images" in report.problems[0]
    assert "at least 10" in report.problems[0]


def test_rare_classes_and_duplicates_are_warnings(tmp_path):
    folder = tmp_path / "rare"
    rows = classification_rows(folder, ["a"] * 10 + ["b"])
    rows.append(dict(rows[0]))  # the same image twice
    write_table(folder, rows)
    report = check_dataset(folder, MC)
    assert report.ok
    assert any("fewer than 5 examples: b (1)" in w for w in report.warnings)
    assert any("appear more than once" in w for w in report.warnings)


def test_summary_counts_objects_and_sizes(detection_table):
    report = check_dataset(detection_table, OD)
    train = report.summary["train"]
    assert train["images"] == 10 and train["objects"] == 15
    assert train["classes"] == {"cat": 10, "dog": 5}
    assert train["boxes_per_image"] == {"min": 1, "mean": 1.5, "max": 2}
    assert train["image_size"]["width"]["max"] == 64
