namespace gs::data {}
