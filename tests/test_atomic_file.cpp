// write_file_atomic: whole replacement, no temporary left behind, failures leave the old file.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "temp_dir.h"
#include "tensor/atomic_file.h"
#include "tensor/error.h"

namespace fs = std::filesystem;
using gs::ByteSpan;
using gs::test::read_file;
using gs::test::TempDir;
using gs::write_file_atomic;

namespace {

int count_entries(const fs::path& dir) {
    int n = 0;
    for (const auto& e : fs::directory_iterator(dir)) n += 1 + 0 * int(e.is_regular_file());
    return n;
}

}  // namespace

TEST_CASE("write_file_atomic replaces a file whole and leaves no temporary behind") {
    TempDir d;
    write_file_atomic(d / "f", "old", 3);
    CHECK(read_file(d / "f") == "old");
    write_file_atomic(d / "f", std::vector<ByteSpan>{{"ne", 2}, {"", 0}, {"w!", 2}});
    CHECK(read_file(d / "f") == "new!");
    write_file_atomic(d / "g", std::string_view("text"));
    CHECK(read_file(d / "g") == "text");
    CHECK(count_entries(d.path) == 2);
}

TEST_CASE("write_file_atomic failures name the path and keep the previous file") {
    TempDir d;
    CHECK_THROWS_WITH_AS(write_file_atomic(d / "no/such/dir/f", "x", 1),
                         doctest::Contains("cannot create a temporary file in"), gs::Error);
    // Renaming a file over a non-empty folder fails after the temporary was written: it must go.
    fs::create_directories(d / "sub" / "inner");
    CHECK_THROWS_WITH_AS(write_file_atomic(d / "sub", "x", 1), doctest::Contains("cannot rename"), gs::Error);
    CHECK(count_entries(d.path) == 1);
    CHECK(fs::is_directory(d / "sub"));
}
