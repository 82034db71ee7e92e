"""bokehpipe: render natural DSLR bokeh from one sharp photo (Ignatov et al., CVPR-W 2020, arXiv 2006.05698).

The package import stays light (no torch) so that `bokehpipe --help` is instant; heavy modules are
imported by the subcommands that need them.
"""

__version__ = "0.1.0"
