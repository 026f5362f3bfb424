"""Top-down pose estimation's two ends, used alike by training, inference and the analyses:
crop geometry (person box ↔ network crop, :mod:`~cigpose.topdown.geometry`) and running a network
on crops with flip test, decoded back to image pixels (:mod:`~cigpose.topdown.decode`).

Axis order, stated once for the whole package: configs and networks give the input as
``input_size`` = ``[h, w]`` (``net.input_hw``); the crop code, codecs and datasets work in
``crop_wh`` = ``(w, h)`` (OpenCV's order). A name ending in ``_hw`` / ``_wh`` says which.
"""
