import numpy as np
import onnxruntime as ort
import torch

from budgetnas.export import export_onnx
from budgetnas.models import build_model


def test_export_checks_outputs_and_batch_is_dynamic(tmp_path):
    net = build_model("mobilenetv2_se", in_channels=1, num_classes=5, width_mult=0.5)
    report = export_onnx(net, torch.randn(2, 1, 16, 16), tmp_path / "m.onnx")
    assert report["max_abs_diff"] < 1e-4
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"))
    x = torch.randn(3, 1, 16, 16)
    got = sess.run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, net.eval()(x).detach().numpy(), rtol=1e-3, atol=1e-4)
