"""Using trained models: loading checkpoints, prediction on images, ONNX export."""
