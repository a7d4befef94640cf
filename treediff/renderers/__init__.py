"""One renderer module per domain. A renderer takes a Grammar and turns derivation trees
into float32 images in [0, 1] (``render(node, size)``) and SVG text (``svg(node)``)."""
