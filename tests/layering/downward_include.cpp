// Must compile with the kernels layer's include path: kernels/ may see tensor/.
#include "tensor/tensor.h"
