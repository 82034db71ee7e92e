"""Phase one: MiDaS and Depth Anything V2 on current timm and the HDF5 depth cache that training and
evaluation read.

Light on purpose: importing the package loads neither torch nor timm. Readers use
`bokehpipe.depth.cache.DepthCache` / `open_depth_cache`; builders use `bokehpipe.depth.model.create_midas`
(any row of `bokehpipe.depth.variants`).
"""

SOURCES = ("midas", "gt", "png")  # `bokehpipe depth --source`: computed, a synthetic set's truth, PyNET maps
