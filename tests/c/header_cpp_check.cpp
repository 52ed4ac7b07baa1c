// header_cpp_check.cpp — proves that sheaf.h compiles as C++ (C++11 and later) with strict
// warnings, and that its declarations have C linkage and the documented types. Compiled with
// `g++ -std=c++11 -Wall -Wextra -Werror -fsyntax-only`; never linked or run.
#include "sheaf.h"

#include <cstddef>
#include <cstdint>

// The types a C++ caller relies on.
static_assert(sizeof(SheafStatus) == sizeof(int32_t), "SheafStatus is an int32_t");
static_assert(sizeof(SheafBytes) == sizeof(uint8_t *) + sizeof(size_t), "SheafBytes is {data, len}");
static_assert(SHEAF_OK == 0, "SHEAF_OK is zero");
static_assert(SHEAF_ABI_VERSION >= 1, "the ABI version is positive");

// Function pointers of the exact documented signatures: a mismatch fails to compile.
static SheafStatus (*open_fn)(const char *, size_t, SheafStore **, SheafError **) =
    sheaf_store_open;
static SheafStatus (*write_fn)(const SheafLibrary *, const char *, size_t,
                                     ArrowArrayStream *, const uint8_t *, size_t, const char *,
                                     size_t, uint64_t *, SheafError **) = sheaf_table_write;
static SheafStatus (*read_fn)(const SheafLibrary *, const char *, size_t, const char *,
                                    size_t, ArrowArrayStream *, SheafBytes *, SheafBytes *,
                                    SheafError **) = sheaf_table_read;
static void (*bytes_free_fn)(SheafBytes *) = sheaf_bytes_free;
static const char *(*message_fn)(const SheafError *) = sheaf_error_message;

// A log callback written in C++ (it must have C-compatible type).
extern "C" void cpp_log_callback(int32_t level, const char *message, size_t len, void *user) {
    (void)level;
    (void)message;
    (void)len;
    (void)user;
}

int header_cpp_check_uses_everything() {
    SheafLogCallback cb = cpp_log_callback;
    ArrowSchema schema = ArrowSchema();
    ArrowArray array = ArrowArray();
    ArrowArrayStream stream = ArrowArrayStream();
    SheafBytes bytes = {nullptr, 0};
    (void)cb;
    (void)schema;
    (void)array;
    (void)stream;
    (void)bytes;
    return (open_fn != nullptr) + (write_fn != nullptr) + (read_fn != nullptr) +
           (bytes_free_fn != nullptr) + (message_fn != nullptr) +
           static_cast<int>(sheaf_abi_version()) + (sheaf_status_name(SHEAF_ERR_CLOSED) != nullptr);
}
