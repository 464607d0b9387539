namespace gs::nn {}
