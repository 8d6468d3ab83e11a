from automl.engine.utils.gpus import cuda_may_be_present


def test_no_driver_node_means_no_cuda(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    node = tmp_path / "nvidiactl"
    assert not cuda_may_be_present((str(node),))
    node.touch()
    assert cuda_may_be_present((str(node),))


def test_empty_visible_devices_hides_every_gpu(tmp_path, monkeypatch):
    node = tmp_path / "nvidiactl"
    node.touch()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert not cuda_may_be_present((str(node),))
