"""The data pipeline behind the Data / ImageData layers (:mod:`fashioncaffe.layers.file_data`):
sources, read order, the split transform (crop and mirror in worker processes, mean and scale on
the device) and the prefetching workers.

``set_num_workers(n)`` (or ``FASHIONCAFFE_DATA_WORKERS``) sets the worker processes per data layer.
"""
from .prefetch import set_num_workers, default_num_workers, close_all  # noqa: F401
from .transform import TransformSpec, DeviceTransform, augment_batch  # noqa: F401
