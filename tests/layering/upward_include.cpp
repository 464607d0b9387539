// Must NOT compile with the kernels layer's include path: kernels/ may not see autograd/.
#include "autograd/variable.h"
