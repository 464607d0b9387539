// safetensors checkpoints: round trips, the exact byte layout, rejection of every corruption kind
// with a message naming it, and atomic saves that leave the previous file and no temp file behind.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "temp_dir.h"
#include "nn/safetensors.h"
#include "tensor/tensor.h"

namespace fs = std::filesystem;
using gs::DType;
using gs::Tensor;
using gs::nn::load_safetensors;
using gs::nn::save_safetensors;

namespace {

using gs::test::read_file;
using gs::test::TempDir;

void write_bytes(const fs::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
}

std::string le64(std::uint64_t n) {
    std::string s(8, '\0');
    for (int b = 0; b < 8; ++b) s[b] = char((n >> (8 * b)) & 0xff);
    return s;
}

// A file as another tool could write it: length, header verbatim, data.
std::string file_of(const std::string& header, const std::string& data) { return le64(header.size()) + header + data; }

// Names of all entries in `dir` (to show no temporary file is left behind).
std::vector<std::string> entries(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
    return out;
}

template <class T>
void check_same(const Tensor& got, const Tensor& want) {
    CHECK(got.dtype() == want.dtype());
    CHECK(got.shape() == want.shape());
    CHECK(got.is_contiguous());
    CHECK(got.to_vector<T>() == want.to_vector<T>());
}

// 8 data bytes: f32 [1, -2].
const std::string kTwoFloats = std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0", 8);

}  // namespace

TEST_CASE("safetensors: round trip of f32/f64/i64/u8 with 0-d and empty and non-contiguous tensors") {
    TempDir tmp;
    Tensor f32 = Tensor::from_vector<float>({1.5f, -2.25f, 3.0f, 1e-30f, -0.0f, 7.0f}, {2, 3});
    Tensor f64 = Tensor::from_vector<double>({3.141592653589793, -1e300, 2.5}, {3});
    Tensor i64 = Tensor::from_vector<std::int64_t>({-9223372036854775807LL, 0, 42, 1LL << 40}, {2, 1, 2});
    Tensor u8 = Tensor::from_vector<std::uint8_t>({0, 1, 127, 128, 255}, {5});
    Tensor scalar = Tensor::scalar(-4.5, DType::f64);
    Tensor empty1 = Tensor::empty({0}, DType::f32);
    Tensor empty2 = Tensor::empty({3, 0, 2}, DType::i64);
    Tensor transposed = f32.t();                                                           // [3, 2], strides [1, 3]
    Tensor strided = Tensor::arange(20, DType::i64).reshape({4, 5}).slice(1, 1, 5, 2);  // [4, 2], step 2
    REQUIRE_FALSE(transposed.is_contiguous());
    REQUIRE_FALSE(strided.is_contiguous());

    // Deliberately not in name order: the file keeps the order given.
    std::vector<std::pair<std::string, Tensor>> in = {
        {"w.f32", f32},       {"b.f64", f64},     {"idx.i64", i64},      {"pix.u8", u8},         {"scalar", scalar},
        {"empty1", empty1}, {"empty2", empty2}, {"transposed", transposed}, {"strided", strided}};
    const fs::path p = tmp / "model.safetensors";
    save_safetensors(p, in);
    const auto out = load_safetensors(p);

    REQUIRE(out.tensors.size() == in.size());
    for (std::size_t i = 0; i < in.size(); ++i) CHECK(out.tensors[i].first == in[i].first);
    check_same<float>(out.tensors[0].second, f32);
    check_same<double>(out.tensors[1].second, f64);
    check_same<std::int64_t>(out.tensors[2].second, i64);
    check_same<std::uint8_t>(out.tensors[3].second, u8);
    check_same<double>(out.tensors[4].second, scalar);
    CHECK(out.tensors[4].second.shape().empty());
    check_same<float>(out.tensors[5].second, empty1);
    check_same<std::int64_t>(out.tensors[6].second, empty2);
    check_same<float>(out.tensors[7].second, transposed);
    CHECK(out.tensors[7].second.to_vector<float>() == std::vector<float>{1.5f, 1e-30f, -2.25f, -0.0f, 3.0f, 7.0f});
    check_same<std::int64_t>(out.tensors[8].second, strided);
    CHECK(out.tensors[8].second.to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 3, 6, 8, 11, 13, 16, 18});
    // The metadata is only the CRCs, which load strips.
    CHECK(out.metadata.empty());
    // The data starts at a multiple of 8, as the reference writer pads.
    const std::string bytes = read_file(p);
    std::uint64_t n = 0;
    for (int b = 0; b < 8; ++b) n |= std::uint64_t(static_cast<unsigned char>(bytes[b])) << (8 * b);
    CHECK((8 + n) % 8 == 0);
}

TEST_CASE("safetensors: metadata round trip with CRC keys stored in the file but not returned") {
    TempDir tmp;
    const std::map<std::string, std::string> meta = {
        {"format", "pt"}, {"epoch", "17"}, {"empty", ""}, {"unicode", "\xce\xbb=0.1 \"quoted\"\n"}};
    const fs::path p = tmp / "m.safetensors";
    save_safetensors(p, {{"x", Tensor::ones({2}, DType::f64)}}, meta);
    const auto out = load_safetensors(p);
    CHECK(out.metadata == meta);
    CHECK(read_file(p).find("\"gradscope.crc32.x\":\"") != std::string::npos);

    // No tensors at all is a valid file too.
    save_safetensors(p, {}, meta);
    const auto none = load_safetensors(p);
    CHECK(none.tensors.empty());
    CHECK(none.metadata == meta);

    CHECK_THROWS_WITH_AS(save_safetensors(p, {}, {{"gradscope.crc32.x", "0"}}),
                         doctest::Contains("uses the reserved prefix 'gradscope.crc32.'"), gs::Error);
}

TEST_CASE("safetensors: the exact bytes of a tiny file") {
    TempDir tmp;
    const fs::path p = tmp / "tiny.safetensors";
    save_safetensors(p, {{"a", Tensor::from_vector<float>({1.0f, -2.0f})}});
    // 102 bytes of JSON + 2 spaces of padding = 104 = 0x68; crc32 of the 8 data bytes is c3872656
    // (python3: zlib.crc32(struct.pack('<ff', 1.0, -2.0))).
    const std::string expected =
        std::string("\x68\x00\x00\x00\x00\x00\x00\x00", 8) +
        R"({"__metadata__":{"gradscope.crc32.a":"c3872656"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})" +
        "  " + kTwoFloats;
    CHECK(read_file(p) == expected);
}

TEST_CASE("safetensors: files from other tools (no CRCs or any key order or padding) load in offset order") {
    TempDir tmp;
    const fs::path p = tmp / "other.safetensors";
    // "b" comes first in the data buffer although it sorts after "a"; header padded with spaces.
    const std::string header =
        R"({"a":{"data_offsets":[2,10],"shape":[2],"dtype":"F32"},"__metadata__":{"format":"pt"},)"
        R"("b":{"dtype":"U8","shape":[1,2],"data_offsets":[0,2]},"z":{"dtype":"I64","shape":[0],"data_offsets":[10,10]}}    )";
    write_bytes(p, file_of(header, std::string("\x07\x09", 2) + kTwoFloats));
    const auto out = load_safetensors(p);
    REQUIRE(out.tensors.size() == 3);
    CHECK(out.tensors[0].first == "b");
    CHECK(out.tensors[1].first == "a");
    CHECK(out.tensors[2].first == "z");
    CHECK(out.tensors[0].second.to_vector<std::uint8_t>() == std::vector<std::uint8_t>{7, 9});
    CHECK(out.tensors[0].second.shape() == gs::Shape{1, 2});
    CHECK(out.tensors[1].second.to_vector<float>() == std::vector<float>{1.0f, -2.0f});
    CHECK(out.tensors[2].second.numel() == 0);
    CHECK(out.metadata == std::map<std::string, std::string>{{"format", "pt"}});
}

TEST_CASE("safetensors: truncated files are rejected at every point") {
    TempDir tmp;
    const fs::path good = tmp / "good.safetensors";
    save_safetensors(good, {{"a", Tensor::from_vector<float>({1.0f, -2.0f})}});
    const std::string bytes = read_file(good);
    REQUIRE(bytes.size() == 8 + 104 + 8);
    const fs::path p = tmp / "cut.safetensors";
    for (std::size_t cut : {std::size_t(0), std::size_t(1), std::size_t(7)}) {
        CAPTURE(cut);
        write_bytes(p, bytes.substr(0, cut));
        CHECK_THROWS_WITH_AS(load_safetensors(p), doctest::Contains("shorter than the 8-byte header length"), gs::Error);
    }
    for (std::size_t cut : {std::size_t(8), std::size_t(9), std::size_t(60), std::size_t(111)}) {
        CAPTURE(cut);
        write_bytes(p, bytes.substr(0, cut));
        CHECK_THROWS_WITH_AS(load_safetensors(p), doctest::Contains("the header length 104 exceeds"), gs::Error);
    }
    for (std::size_t cut : {std::size_t(112), std::size_t(115), std::size_t(119)}) {
        CAPTURE(cut);
        write_bytes(p, bytes.substr(0, cut));
        CHECK_THROWS_WITH_AS(load_safetensors(p), doctest::Contains("reach past the data buffer"), gs::Error);
    }
    // The message names the file.
    write_bytes(p, "");
    CHECK_THROWS_WITH_AS(load_safetensors(p), doctest::Contains(p.string().c_str()), gs::Error);
    CHECK_THROWS_WITH_AS(load_safetensors(tmp / "missing.safetensors"), doctest::Contains("cannot open"), gs::Error);
    CHECK_THROWS_WITH_AS(load_safetensors(tmp.path), doctest::Contains("not a regular file"), gs::Error);
}

TEST_CASE("safetensors: a flipped data byte fails the CRC check") {
    TempDir tmp;
    const fs::path p = tmp / "flip.safetensors";
    save_safetensors(p, {{"w", Tensor::from_vector<double>({1.0, 2.0, 3.0})}, {"b", Tensor::from_vector<float>({4.0f})}});
    const std::string bytes = read_file(p);
    // The last byte belongs to "b", a middle data byte to "w".
    for (std::size_t back : {std::size_t(1), std::size_t(10)}) {
        std::string bad = bytes;
        bad[bad.size() - back] = char(bad[bad.size() - back] ^ 0x10);
        write_bytes(p, bad);
        CHECK_THROWS_WITH_AS(load_safetensors(p),
                             doctest::Contains(back == 1 ? "tensor 'b' fails its CRC32 check" : "tensor 'w' fails its CRC32 check"),
                             gs::Error);
    }
}

TEST_CASE("safetensors: malformed headers are rejected with the defect named") {
    TempDir tmp;
    const fs::path p = tmp / "bad.safetensors";
    auto rejects = [&](const std::string& header, const std::string& data, const std::string& message) {
        CAPTURE(header);
        write_bytes(p, file_of(header, data));
        CHECK_THROWS_WITH_AS(load_safetensors(p), doctest::Contains(message.c_str()), gs::Error);
    };
    const std::string a_ok = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
    // Sanity: the good header loads.
    write_bytes(p, file_of("{" + a_ok + "}", kTwoFloats));
    CHECK(load_safetensors(p).tensors.size() == 1);

    rejects(R"({"a":{"dtype":"F32","shape":[2],)", kTwoFloats, "the header is not valid JSON");
    rejects("{\"a\":\"\xff\xfe\"}", "", "the header is not valid JSON");  // invalid UTF-8
    rejects("[1, 2]", "", "the header is JSON but not an object (it is array)");
    rejects(R"({"a":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})", "\x01\x00", "dtype BOOL is not supported");
    rejects(R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", "1234", "dtype F16 is not supported");
    rejects(R"({"a":{"dtype":3,"shape":[2],"data_offsets":[0,8]}})", kTwoFloats, "dtype must be a string");
    rejects(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", kTwoFloats.substr(0, 4),
            "span 4 bytes but dtype F32 and shape [2] need 8");
    rejects(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", kTwoFloats, "must hold non-negative integers");
    rejects(R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", kTwoFloats, "must hold non-negative integers");
    rejects(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", kTwoFloats, "has begin after end");
    rejects(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", kTwoFloats, "must be two non-negative integers");
    rejects(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", kTwoFloats, "reach past the data buffer of 8 bytes");
    rejects(R"({"a":{"dtype":"F32","shape":[4611686018427387904, 4],"data_offsets":[0,8]}})", kTwoFloats, "is too large");
    rejects(R"({"a":{"dtype":"F32","shape":[2]}})", kTwoFloats, "needs the fields dtype, shape and data_offsets");
    rejects(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}})", kTwoFloats, "unexpected field 'extra'");
    rejects(R"({"a":[1]})", kTwoFloats, "tensor 'a': expected an object");
    // Coverage of the data buffer: overlap, gap, trailing bytes.
    rejects("{" + a_ok + R"(,"b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})", kTwoFloats,
            "tensor 'b' data_offsets [4, 8] overlap the bytes of tensor 'a'");
    rejects(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", kTwoFloats,
            "leave a gap of 4 bytes after the start of the data buffer");
    rejects("{" + a_ok + "}", kTwoFloats + "xy", "2 trailing bytes");
    rejects("{" + a_ok + "," + a_ok + "}", kTwoFloats + kTwoFloats, "duplicate tensor name 'a'");
    rejects(R"({"__metadata__":{"k":"1","k":"2"},)" + a_ok + "}", kTwoFloats, "duplicate key 'k'");
    rejects(R"({"__metadata__":{"epoch":17},)" + a_ok + "}", kTwoFloats,
            "metadata key 'epoch' has a non-string value (number)");
    rejects(R"({"__metadata__":"x",)" + a_ok + "}", kTwoFloats, "__metadata__ must be an object");
    rejects(R"({"__metadata__":{"gradscope.crc32.q":"00000000"},)" + a_ok + "}", kTwoFloats,
            "CRC32 for tensor 'q', which the file does not contain");
    rejects(R"({"__metadata__":{"gradscope.crc32.a":"xyz"},)" + a_ok + "}", kTwoFloats, "not 8 lowercase hex digits");
    rejects(R"({"__metadata__":{"gradscope.crc32.a":"00000000"},)" + a_ok + "}", kTwoFloats,
            "tensor 'a' fails its CRC32 check (stored 00000000, computed c3872656)");

    // A header length far beyond the file.
    write_bytes(p, le64(std::uint64_t(1) << 62) + "{}");
    CHECK_THROWS_WITH_AS(load_safetensors(p), doctest::Contains("the header length 4611686018427387904 exceeds the 2 bytes"),
                         gs::Error);
}

TEST_CASE("safetensors: invalid tensor lists are refused before any file is touched") {
    TempDir tmp;
    const fs::path p = tmp / "x.safetensors";
    const Tensor t = Tensor::ones({2});
    CHECK_THROWS_WITH_AS(save_safetensors(p, {{"a", t}, {"a", t}}), doctest::Contains("duplicate tensor name 'a'"), gs::Error);
    CHECK_THROWS_WITH_AS(save_safetensors(p, {{"", t}}), doctest::Contains("empty name"), gs::Error);
    CHECK_THROWS_WITH_AS(save_safetensors(p, {{"__metadata__", t}}), doctest::Contains("is reserved"), gs::Error);
    CHECK_THROWS_WITH_AS(save_safetensors(p, {{"u", Tensor()}}), doctest::Contains("tensor 'u' is undefined"), gs::Error);
    CHECK(entries(tmp.path).empty());
}

TEST_CASE("safetensors: a failed save leaves the previous file unchanged and no temporary file") {
    TempDir tmp;
    const fs::path p = tmp / "ckpt.safetensors";
    save_safetensors(p, {{"a", Tensor::from_vector<float>({1.0f, -2.0f})}});
    const std::string before = read_file(p);
    const Tensor big = Tensor::zeros({1 << 18}, DType::f64);  // 2 MiB

    SUBCASE("parent directory does not exist") {
        CHECK_THROWS_WITH_AS(save_safetensors(tmp / "no_such_dir" / "x.safetensors", {{"a", big}}),
                             doctest::Contains("cannot create a temporary file in"), gs::Error);
    }
    SUBCASE("parent is a regular file") {
        CHECK_THROWS_WITH_AS(save_safetensors(p / "x.safetensors", {{"a", big}}),
                             doctest::Contains("cannot create a temporary file in"), gs::Error);
    }
    SUBCASE("the target is a directory: the rename fails after the data is written") {
        fs::create_directory(tmp / "sub");
        CHECK_THROWS_WITH_AS(save_safetensors(tmp / "sub", {{"a", big}}), doctest::Contains("cannot rename"), gs::Error);
        CHECK(fs::is_directory(tmp / "sub"));
    }
    SUBCASE("a write fails half-way (file size limit)") {
        // RLIMIT_FSIZE makes write() fail with EFBIG even for root; SIGXFSZ would kill the process.
        rlimit old{};
        REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
        auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
        rlimit small = old;
        small.rlim_cur = 64 * 1024;
        REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
        bool threw = false;
        std::string message;
        try {
            save_safetensors(p, {{"a", big}});
        } catch (const gs::Error& e) {
            threw = true;
            message = e.what();
        }
        ::setrlimit(RLIMIT_FSIZE, &old);
        std::signal(SIGXFSZ, old_handler);
        CHECK(threw);
        CHECK(message.find("cannot write") != std::string::npos);
    }
    SUBCASE("read-only directory") {
        fs::permissions(tmp.path, fs::perms::owner_read | fs::perms::owner_exec);
        // Root ignores directory permissions; then there is nothing to test here.
        const bool enforced = ::access(tmp.path.c_str(), W_OK) != 0;
        if (enforced) {
            CHECK_THROWS_WITH_AS(save_safetensors(p, {{"a", big}}), doctest::Contains("Permission denied"), gs::Error);
        } else {
            MESSAGE("running as root: read-only directory case skipped");
        }
        fs::permissions(tmp.path, fs::perms::owner_all);
    }
    CHECK(read_file(p) == before);
    std::vector<std::string> names = entries(tmp.path);
    std::erase(names, std::string("sub"));
    CHECK(names == std::vector<std::string>{"ckpt.safetensors"});
    CHECK(load_safetensors(p).tensors.size() == 1);
}
