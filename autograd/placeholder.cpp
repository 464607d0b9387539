namespace gs::autograd {}
