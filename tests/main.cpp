// The doctest entry point for gs_tests. Every allocation is poisoned (filled with NaN bytes) so
// that any kernel leaving an output element unassigned fails the comparison with its reference.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "tensor/allocator.h"

int main(int argc, char** argv) {
    gs::cpu_allocator::set_poison(true);
    doctest::Context context(argc, argv);
    return context.run();
}
