// write_file_atomic: temp file, fsync, rename, fsync of the folder.
#include "tensor/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "tensor/error.h"

namespace gs {

namespace {

// Closes on scope exit, so every early throw releases the descriptor.
struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

// 0 on success, else the errno of the failed write. Retries short writes and EINTR.
int write_all(int fd, const void* data, std::size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
        const ssize_t w = ::write(fd, p, std::min<std::size_t>(n, std::size_t(1) << 30));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return w < 0 ? errno : EIO;
        p += w;
        n -= std::size_t(w);
    }
    return 0;
}

}  // namespace

void write_file_atomic(const std::filesystem::path& path, const std::vector<ByteSpan>& parts) {
    const std::string where = path.string() + ": ";
    std::filesystem::path dir = path.parent_path();
    if (dir.empty()) dir = ".";

    // O_EXCL with a per-process counter and a random tag instead of mkstemp: mkstemp creates mode
    // 0600, while open(..., 0666) lets the umask decide. The counter keeps concurrent writers of
    // one process apart, the pid and tag those of different processes.
    static std::atomic<unsigned> counter{0};
    std::random_device rd;
    Fd fd;
    std::string tmp;
    for (int attempt = 0; attempt < 100 && fd.fd < 0; ++attempt) {
        char tag[48];
        std::snprintf(tag, sizeof tag, ".tmp.%ld.%u.%08x", long(::getpid()), counter.fetch_add(1), unsigned(rd()));
        std::string leaf = ".";  // hidden, so directory listings skip it
        leaf += path.filename().string();
        leaf += tag;
        tmp = (dir / leaf).string();
        fd.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd.fd < 0 && errno != EEXIST) break;
    }
    GS_CHECK(fd.fd >= 0, where, "cannot create a temporary file in '", dir.string(), "': ", std::strerror(errno));

    // Any failure from here to the rename removes the temporary file before throwing.
    auto fail = [&](const std::string& what, int err) {
        if (fd.fd >= 0) ::close(fd.fd);
        fd.fd = -1;
        ::unlink(tmp.c_str());
        GS_FAIL(where, what, ": ", std::strerror(err));
    };
    for (const ByteSpan& part : parts) {
        if (part.size == 0) continue;
        if (int err = write_all(fd.fd, part.data, part.size)) fail("cannot write '" + tmp + "'", err);
    }
    if (::fsync(fd.fd) != 0) fail("cannot fsync '" + tmp + "'", errno);
    const int close_rc = ::close(fd.fd);
    fd.fd = -1;
    if (close_rc != 0) fail("cannot close '" + tmp + "'", errno);
    if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename '" + tmp + "' over the target", errno);

    // The new file is complete either way; a failure here only means the rename may not survive a
    // power cut, which the caller should still hear about.
    Fd dfd;
    dfd.fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    GS_CHECK(dfd.fd >= 0, where, "cannot open folder '", dir.string(), "' to fsync it: ", std::strerror(errno));
    GS_CHECK(::fsync(dfd.fd) == 0, where, "cannot fsync folder '", dir.string(), "': ", std::strerror(errno));
}

void write_file_atomic(const std::filesystem::path& path, const void* data, std::size_t n) {
    write_file_atomic(path, std::vector<ByteSpan>{{data, n}});
}

void write_file_atomic(const std::filesystem::path& path, std::string_view text) {
    write_file_atomic(path, text.data(), text.size());
}

}  // namespace gs
