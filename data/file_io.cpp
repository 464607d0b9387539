// File helpers for the readers: plain and gzip reads, atomic writes, text lines.
#include "data/file_io.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "tensor/error.h"

namespace gs::data {

namespace fs = std::filesystem;

std::uint64_t file_size_checked(const std::string& path) {
    std::error_code ec;
    fs::file_status st = fs::status(path, ec);
    GS_CHECK(!ec && fs::exists(st), path, ": no such file");
    GS_CHECK(fs::is_regular_file(st), path, ": not a regular file");
    std::uint64_t n = fs::file_size(path, ec);
    GS_CHECK(!ec, path, ": cannot read its size (", ec.message(), ")");
    return n;
}

std::vector<std::uint8_t> read_file_bytes(const std::string& path) {
    std::uint64_t n = file_size_checked(path);
    std::ifstream in(path, std::ios::binary);
    GS_CHECK(in, path, ": cannot open (", std::strerror(errno), ")");
    std::vector<std::uint8_t> bytes(n);
    in.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(n));
    GS_CHECK(in && std::uint64_t(in.gcount()) == n, path, ": read ", in.gcount(), " of ", n, " bytes");
    return bytes;
}

namespace {

bool starts_with_gzip_magic(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    GS_CHECK(in, path, ": cannot open (", std::strerror(errno), ")");
    unsigned char magic[2] = {0, 0};
    in.read(reinterpret_cast<char*>(magic), 2);
    return in.gcount() == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

}  // namespace

std::vector<std::uint8_t> read_maybe_gzip(const std::string& path, std::uint64_t max_bytes) {
    const std::uint64_t size = file_size_checked(path);
    // One byte past the limit is read, so the caller can tell "exactly max_bytes" from "more".
    const std::uint64_t cap = max_bytes == UINT64_MAX ? max_bytes : max_bytes + 1;
    if (!starts_with_gzip_magic(path)) {
        if (size <= cap) return read_file_bytes(path);
        std::ifstream in(path, std::ios::binary);
        GS_CHECK(in, path, ": cannot open (", std::strerror(errno), ")");
        std::vector<std::uint8_t> bytes(cap);
        in.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(cap));
        GS_CHECK(std::uint64_t(in.gcount()) == cap, path, ": read ", in.gcount(), " of ", cap, " bytes");
        return bytes;
    }

    // The compressed file is small next to its content: read it whole and inflate with zlib
    // directly, which, unlike gzread, shows what follows the last gzip member.
    const std::vector<std::uint8_t> packed = read_file_bytes(path);
    z_stream zs{};
    GS_CHECK(inflateInit2(&zs, 16 + MAX_WBITS) == Z_OK, path, ": cannot start zlib");
    struct End {
        z_stream* zs;
        ~End() { inflateEnd(zs); }
    } end_guard{&zs};
    std::size_t fed = 0;  // bytes of `packed` handed to zlib so far
    std::vector<std::uint8_t> out;
    std::size_t used = 0;
    // Inflation stops at the cap: a small file that inflates to gigabytes (a gzip bomb) costs at
    // most what the caller said it expects.
    while (used < cap) {
        if (out.size() - used < (1u << 20))
            out.resize(std::size_t(std::min<std::uint64_t>(std::max<std::size_t>(out.size() * 2, 4u << 20), cap)));
        if (zs.avail_in == 0 && fed < packed.size()) {
            const std::size_t chunk = std::min<std::size_t>(packed.size() - fed, 1u << 30);
            zs.next_in = const_cast<Bytef*>(packed.data() + fed);
            zs.avail_in = uInt(chunk);
            fed += chunk;
        }
        const std::size_t room = std::min<std::size_t>(out.size() - used, 1u << 30);
        zs.next_out = out.data() + used;
        zs.avail_out = uInt(room);
        const int ret = inflate(&zs, Z_NO_FLUSH);
        used += room - zs.avail_out;
        if (ret == Z_STREAM_END) {
            const std::size_t at = fed - zs.avail_in;  // first byte after this member
            if (at == packed.size()) break;
            // Concatenated members are valid gzip; anything else after a member is corruption.
            GS_CHECK(packed.size() - at >= 2 && packed[at] == 0x1f && packed[at + 1] == 0x8b, path, ": ",
                     packed.size() - at, " bytes of trailing garbage after the gzip stream");
            GS_CHECK(inflateReset(&zs) == Z_OK, path, ": cannot restart zlib");
            continue;
        }
        // Z_BUF_ERROR with all input consumed means the stream ended early.
        GS_CHECK(ret == Z_OK, path, ": corrupt or truncated gzip stream (",
                 ret == Z_BUF_ERROR ? "unexpected end of file" : zs.msg ? zs.msg : "zlib error", ")");
    }
    out.resize(used);
    return out;
}

std::vector<std::string> read_text_lines(const std::string& path) {
    std::vector<std::uint8_t> bytes = read_file_bytes(path);
    std::vector<std::string> lines;
    std::string cur;
    auto flush = [&] {
        while (!cur.empty() && (cur.back() == ' ' || cur.back() == '\t' || cur.back() == '\r')) cur.pop_back();
        if (!cur.empty()) lines.push_back(cur);
        cur.clear();
    };
    for (std::uint8_t b : bytes) {
        if (b == '\n') flush();
        else cur.push_back(char(b));
    }
    flush();
    return lines;
}

}  // namespace gs::data
