"""Photos and datasets: decoding and resizing, dataset layouts, synthetic scenes, depth maps, training samples."""
