// safetensors reading and writing; see safetensors.h for the format and the CRC metadata keys.
#include "nn/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "tensor/atomic_file.h"
#include "tensor/error.h"

namespace gs::nn {

// The data buffer is the tensors' in-memory bytes, which are little-endian only on such hosts.
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

constexpr std::size_t kAlign = 8;  // data buffer start alignment, as the reference writer pads

const char* st_dtype_name(DType d) {
    switch (d) {
        case DType::f32: return "F32";
        case DType::f64: return "F64";
        case DType::i64: return "I64";
        case DType::u8: return "U8";
    }
    return "?";
}

bool st_dtype_from_name(const std::string& s, DType& out) {
    if (s == "F32") out = DType::f32;
    else if (s == "F64") out = DType::f64;
    else if (s == "I64") out = DType::i64;
    else if (s == "U8") out = DType::u8;
    else return false;
    return true;
}

// zlib's crc32 takes a uInt length, so long buffers go in chunks.
std::uint32_t crc32_of(const void* data, std::size_t n) {
    uLong crc = crc32(0L, Z_NULL, 0);
    const auto* p = static_cast<const Bytef*>(data);
    while (n > 0) {
        const std::size_t chunk = std::min<std::size_t>(n, std::size_t(1) << 30);
        crc = crc32(crc, p, static_cast<uInt>(chunk));
        p += chunk;
        n -= chunk;
    }
    return static_cast<std::uint32_t>(crc);
}

std::string crc_hex(std::uint32_t crc) {
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08x", crc);
    return buf;
}

std::string errno_str(int err) { return std::strerror(err); }

// Reads exactly n bytes at `offset` or returns false (errno set, or 0 at an early end of file).
bool pread_all(int fd, void* data, std::size_t n, std::uint64_t offset) {
    auto* p = static_cast<char*>(data);
    while (n > 0) {
        const ssize_t r = ::pread(fd, p, std::min<std::size_t>(n, std::size_t(1) << 30), static_cast<off_t>(offset));
        if (r < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        if (r == 0) {
            errno = 0;
            return false;
        }
        p += r;
        n -= static_cast<std::size_t>(r);
        offset += static_cast<std::uint64_t>(r);
    }
    return true;
}

// Closes the descriptor on scope exit (error paths throw).
struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

const char* json_kind(const nlohmann::json& j) { return j.type_name(); }

}  // namespace

// ---- save -----------------------------------------------------------------------------------------

void save_safetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
    const std::string where = "save_safetensors: " + path.string() + ": ";
    const std::string prefix = kSafetensorsCrcPrefix;

    // Validate everything before touching the file system, so bad input never leaves a temp file.
    std::set<std::string> names;
    for (const auto& [name, t] : tensors) {
        GS_CHECK(!name.empty(), where, "a tensor has an empty name");
        GS_CHECK(name != "__metadata__", where, "\"__metadata__\" is reserved and cannot name a tensor");
        GS_CHECK(names.insert(name).second, where, "duplicate tensor name '", name, "'");
        GS_CHECK(t.defined(), where, "tensor '", name, "' is undefined");
    }
    for (const auto& [key, value] : metadata) {
        GS_CHECK(key.rfind(prefix, 0) != 0, where, "metadata key '", key, "' uses the reserved prefix '", prefix,
                 "' (the per-tensor CRC32s are written there)");
    }

    // Contiguous CPU copies (views of already contiguous CPU tensors cost nothing).
    std::vector<Tensor> host;
    host.reserve(tensors.size());
    for (const auto& [name, t] : tensors) host.push_back(t.to(Device::cpu()).contiguous());

    // ordered_json keeps the header in a fixed, readable order: metadata, then tensors by offset.
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    nlohmann::ordered_json entries = nlohmann::ordered_json::object();
    std::uint64_t offset = 0;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const std::string& name = tensors[i].first;
        const Tensor& t = host[i];
        const std::uint64_t nbytes = std::uint64_t(t.numel()) * t.itemsize();
        const void* bytes = nbytes ? t.raw_data() : nullptr;
        meta[prefix + name] = crc_hex(crc32_of(bytes, nbytes));
        nlohmann::ordered_json e = nlohmann::ordered_json::object();
        e["dtype"] = st_dtype_name(t.dtype());
        e["shape"] = nlohmann::ordered_json::array();
        for (std::int64_t d : t.shape()) e["shape"].push_back(std::uint64_t(d));
        e["data_offsets"] = {offset, offset + nbytes};
        entries[name] = std::move(e);
        offset += nbytes;
    }
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    header["__metadata__"] = std::move(meta);
    for (auto& [name, e] : entries.items()) header[name] = e;

    std::string text = header.dump();
    text.append((kAlign - (8 + text.size()) % kAlign) % kAlign, ' ');
    unsigned char len_bytes[8];
    const std::uint64_t n = text.size();
    for (int b = 0; b < 8; ++b) len_bytes[b] = static_cast<unsigned char>(n >> (8 * b));

    std::vector<ByteSpan> parts{{len_bytes, 8}, {text.data(), text.size()}};
    for (const Tensor& t : host) parts.push_back({t.raw_data(), std::size_t(t.numel()) * t.itemsize()});
    write_file_atomic(path, parts);
}

// ---- load -----------------------------------------------------------------------------------------

namespace {

struct Entry {
    std::string name;
    DType dtype;
    Shape shape;
    std::uint64_t begin, end;
};

// Parses the header, rejecting duplicate keys in any object (nlohmann would silently keep one).
nlohmann::json parse_header(const std::string& text, const std::string& where) {
    std::vector<std::set<std::string>> seen;  // key sets of the open objects, innermost last
    std::string duplicate;
    bool top_level_duplicate = false;
    auto cb = [&](int /*depth*/, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
        using E = nlohmann::json::parse_event_t;
        if (ev == E::object_start) {
            seen.emplace_back();
        } else if (ev == E::object_end) {
            if (!seen.empty()) seen.pop_back();
        } else if (ev == E::key && !seen.empty() && duplicate.empty()) {
            const std::string k = parsed.get<std::string>();
            if (!seen.back().insert(k).second) {
                duplicate = k;
                top_level_duplicate = seen.size() == 1;
            }
        }
        return true;
    };
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text, cb);
    } catch (const nlohmann::json::exception& e) {
        GS_FAIL(where, "the header is not valid JSON (", e.what(), ")");
    }
    GS_CHECK(duplicate.empty(), where, "the header has a duplicate ", top_level_duplicate ? "tensor name" : "key",
             " '", duplicate, "'");
    GS_CHECK(j.is_object(), where, "the header is JSON but not an object (it is ", json_kind(j), ")");
    return j;
}

// numel * itemsize of `e`, or throws when it overflows 64 bits.
std::uint64_t byte_size(const Entry& e, const std::string& where) {
    std::uint64_t n = dtype_size(e.dtype);
    for (std::int64_t d : e.shape) {
        GS_CHECK(d == 0 || n <= std::numeric_limits<std::uint64_t>::max() / std::uint64_t(d), where, "tensor '",
                 e.name, "' shape ", shape_str(e.shape), " is too large");
        n *= std::uint64_t(d);
    }
    return n;
}

Entry parse_entry(const std::string& name, const nlohmann::json& v, std::uint64_t data_size,
                  const std::string& where) {
    const std::string t = "tensor '" + name + "': ";
    GS_CHECK(v.is_object(), where, t, "expected an object, got ", json_kind(v));
    for (const auto& [k, _] : v.items()) {
        GS_CHECK(k == "dtype" || k == "shape" || k == "data_offsets", where, t, "unexpected field '", k, "'");
    }
    GS_CHECK(v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"), where, t,
             "needs the fields dtype, shape and data_offsets");
    Entry e{name, DType::f32, {}, 0, 0};

    const auto& dt = v["dtype"];
    GS_CHECK(dt.is_string(), where, t, "dtype must be a string, got ", json_kind(dt));
    const std::string dts = dt.get<std::string>();
    GS_CHECK(st_dtype_from_name(dts, e.dtype), where, t, "dtype ", dts,
             " is not supported by gradscope (supported: F32, F64, I64, U8)");

    const auto& sh = v["shape"];
    GS_CHECK(sh.is_array(), where, t, "shape must be an array, got ", json_kind(sh));
    for (const auto& d : sh) {
        GS_CHECK(d.is_number_unsigned() && d.get<std::uint64_t>() <= std::uint64_t(std::numeric_limits<std::int64_t>::max()),
                 where, t, "shape ", sh.dump(), " must hold non-negative integers");
        e.shape.push_back(std::int64_t(d.get<std::uint64_t>()));
    }

    const auto& off = v["data_offsets"];
    GS_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(), where,
             t, "data_offsets ", off.dump(), " must be two non-negative integers [begin, end]");
    e.begin = off[0].get<std::uint64_t>();
    e.end = off[1].get<std::uint64_t>();
    GS_CHECK(e.begin <= e.end, where, t, "data_offsets [", e.begin, ", ", e.end, "] has begin after end");
    const std::uint64_t want = byte_size(e, where);
    GS_CHECK(e.end - e.begin == want, where, t, "data_offsets [", e.begin, ", ", e.end, "] span ", e.end - e.begin,
             " bytes but dtype ", dts, " and shape ", shape_str(e.shape), " need ", want);
    GS_CHECK(e.end <= data_size, where, t, "data_offsets [", e.begin, ", ", e.end, "] reach past the data buffer of ",
             data_size, " bytes (is the file truncated?)");
    return e;
}

}  // namespace

SafetensorsFile load_safetensors(const std::filesystem::path& path) {
    const std::string where = "load_safetensors: " + path.string() + ": ";
    Fd fd;
    fd.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    GS_CHECK(fd.fd >= 0, where, "cannot open: ", errno_str(errno));
    struct stat st {};
    GS_CHECK(::fstat(fd.fd, &st) == 0, where, "cannot stat: ", errno_str(errno));
    GS_CHECK(S_ISREG(st.st_mode), where, "not a regular file");
    const std::uint64_t file_size = std::uint64_t(st.st_size);

    GS_CHECK(file_size >= 8, where, "the file is ", file_size, " bytes, shorter than the 8-byte header length");
    unsigned char len_bytes[8];
    GS_CHECK(pread_all(fd.fd, len_bytes, 8, 0), where, "cannot read the header length: ", errno_str(errno));
    std::uint64_t n = 0;
    for (int b = 0; b < 8; ++b) n |= std::uint64_t(len_bytes[b]) << (8 * b);
    GS_CHECK(n <= file_size - 8, where, "the header length ", n, " exceeds the ", file_size - 8,
             " bytes that follow it in the file");
    const std::uint64_t data_size = file_size - 8 - n;

    std::string text(n, '\0');
    GS_CHECK(pread_all(fd.fd, text.data(), n, 8), where, "cannot read the header: ", errno_str(errno));
    const nlohmann::json header = parse_header(text, where);

    SafetensorsFile out;
    std::vector<Entry> entries;
    for (const auto& [key, v] : header.items()) {
        if (key == "__metadata__") {
            GS_CHECK(v.is_object(), where, "__metadata__ must be an object, got ", json_kind(v));
            for (const auto& [mk, mv] : v.items()) {
                GS_CHECK(mv.is_string(), where, "metadata key '", mk, "' has a non-string value (", json_kind(mv),
                         ")");
                out.metadata[mk] = mv.get<std::string>();
            }
        } else {
            entries.push_back(parse_entry(key, v, data_size, where));
        }
    }

    // The spec requires the ranges to tile the data buffer exactly: sorted by offset, each tensor
    // starts where the previous one ended and the last one ends at the end of the file.
    std::stable_sort(entries.begin(), entries.end(),
                     [](const Entry& a, const Entry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
    std::uint64_t pos = 0;
    std::string prev = "the start of the data buffer";
    for (const Entry& e : entries) {
        GS_CHECK(e.begin >= pos, where, "tensor '", e.name, "' data_offsets [", e.begin, ", ", e.end,
                 "] overlap the bytes of ", prev, " (which end at ", pos, ")");
        GS_CHECK(e.begin == pos, where, "tensor '", e.name, "' data_offsets [", e.begin, ", ", e.end,
                 "] leave a gap of ", e.begin - pos, " bytes after ", prev, " (which end at ", pos, ")");
        pos = e.end;
        prev = "tensor '" + e.name + "'";
    }
    GS_CHECK(pos == data_size, where, "the tensors cover ", pos, " bytes of the ", data_size,
             "-byte data buffer: ", data_size - pos, " trailing bytes");

    // Every CRC key must name a tensor of the file, so a dropped or renamed tensor is noticed too.
    const std::string prefix = kSafetensorsCrcPrefix;
    std::map<std::string, std::string> crcs;
    for (auto it = out.metadata.begin(); it != out.metadata.end();) {
        if (it->first.rfind(prefix, 0) == 0) {
            crcs[it->first.substr(prefix.size())] = it->second;
            it = out.metadata.erase(it);
        } else {
            ++it;
        }
    }
    for (const auto& [name, value] : crcs) {
        const bool present = std::any_of(entries.begin(), entries.end(), [&](const Entry& e) { return e.name == name; });
        GS_CHECK(present, where, "metadata holds a CRC32 for tensor '", name, "', which the file does not contain");
        GS_CHECK(value.size() == 8 && value.find_first_not_of("0123456789abcdef") == std::string::npos, where,
                 "metadata key '", prefix, name, "' holds '", value, "', not 8 lowercase hex digits");
    }

    const std::uint64_t data_start = 8 + n;
    for (const Entry& e : entries) {
        Tensor t = Tensor::empty(e.shape, e.dtype);
        const std::uint64_t nbytes = e.end - e.begin;
        if (nbytes > 0) {
            GS_CHECK(pread_all(fd.fd, t.raw_data(), nbytes, data_start + e.begin), where, "cannot read tensor '",
                     e.name, "': ", errno ? errno_str(errno) : std::string("unexpected end of file"));
        }
        if (auto it = crcs.find(e.name); it != crcs.end()) {
            const std::string got = crc_hex(crc32_of(nbytes ? t.raw_data() : nullptr, nbytes));
            GS_CHECK(got == it->second, where, "tensor '", e.name, "' fails its CRC32 check (stored ", it->second,
                     ", computed ", got, "): the data is corrupted");
        }
        out.tensors.emplace_back(e.name, std::move(t));
    }
    return out;
}

}  // namespace gs::nn
