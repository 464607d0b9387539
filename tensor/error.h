#pragma once
// The one exception type of gradscope and the GS_CHECK macro that raises it.
#include <sstream>
#include <stdexcept>
#include <string>

namespace gs {

// Every error gradscope raises on bad input. The message names the op, file or flag and the
// offending values.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {
template <class... Args>
[[noreturn]] void throw_error(const char* file, int line, const Args&... args) {
    std::ostringstream os;
    (os << ... << args);
    os << " [" << file << ":" << line << "]";
    throw Error(os.str());
}
}  // namespace detail

}  // namespace gs

// GS_CHECK(cond, parts...) throws gs::Error with the parts streamed together when cond is false.
#define GS_CHECK(cond, ...)                                                  \
    do {                                                                     \
        if (!(cond)) ::gs::detail::throw_error(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

#define GS_FAIL(...) ::gs::detail::throw_error(__FILE__, __LINE__, __VA_ARGS__)
