namespace gs::kernels {}
