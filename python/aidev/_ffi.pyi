# aidev._ffi: the cffi extension module written by python/build_ffi.py.
# Its `ffi` and `lib` mirror include/aidev/aidev.h and dlpack/dlpack.h
# (every function, struct, enum and integer constant of aidev.h, by its C
# name); cffi objects are dynamic, so they are typed here as Any.
from typing import Any

ffi: Any
lib: Any
