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


def test_duplicate_image_across_train_and_validation_is_leakage(tmp_path, multiclass_table):
    valid = tmp_path / "valid"
    write_table(valid, classification_rows(valid, ["a", "b"], start=0))  # same pixels as img0/1
    report = check_job_data(_job(MC, multiclass_table, valid))
    assert len(report.problems) == 2 and all("leakage" in p for p in report.problems)
    assert "valid/annotations.jsonl:1" in report.problems[0]


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
