// Gradchecks (f64) of the index autograd ops, with duplicate indices (gradients must sum).
#include <doctest/doctest.h>

#include "autograd/index.h"
#include "tensor/random.h"
#include "test_util.h"

using namespace gs;
using namespace gs::autograd;
using V = std::vector<Variable>;

TEST_CASE("gradcheck: index_select / index_add / gather / scatter_add") {
    const Tensor x = test::randn64({3, 4, 5}, 41);
    const Tensor idx = Tensor::from_vector<std::int64_t>({2, 0, 2, 1});  // duplicates
    for (std::int64_t dim = 0; dim < 3; ++dim) {
        const std::string tag = " dim " + std::to_string(dim);
        test::check_grad("index_select" + tag, [&](const V& v) { return index_select(v[0], dim, idx); }, {x});
        Shape ss = x.shape();
        ss[std::size_t(dim)] = 4;
        test::check_grad("index_add" + tag, [&](const V& v) { return index_add(x.shape(), dim, idx, v[0]); },
                         {test::randn64(ss, 42 + std::uint64_t(dim))});
        Generator g(43 + std::uint64_t(dim));
        Shape is = {2, 3, 4};
        is[std::size_t(dim)] = 6;
        const Tensor gi = randint(is, g, 0, x.size(dim));
        test::check_grad("gather" + tag, [&](const V& v) { return gather(v[0], dim, gi); }, {x});
        test::check_grad("scatter_add" + tag, [&](const V& v) { return scatter_add(x.shape(), dim, gi, v[0]); },
                         {test::randn64(is, 44 + std::uint64_t(dim))});
        // src larger than index: the unread part of src gets a zero gradient.
        Shape big = is;
        for (auto& n : big) n += 1;
        test::check_grad("scatter_add larger src" + tag,
                         [&](const V& v) { return scatter_add(x.shape(), dim, gi, v[0]); },
                         {test::randn64(big, 45 + std::uint64_t(dim))});
    }
}
