#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

struct ArrowSchema {
  const char* format;
  const char* name;
  const char* metadata;
  int64_t flags;
  int64_t n_children;
  struct ArrowSchema** children;
  struct ArrowSchema* dictionary;

  void (*release)(struct ArrowSchema*);
  void* private_data;
};

struct ArrowArray {
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void** buffers;
  struct ArrowArray** children;
  struct ArrowArray* dictionary;

  void (*release)(struct ArrowArray*);
  void* private_data;
};

struct ArrowArrayStream {
  int (*get_schema)(struct ArrowArrayStream*, struct ArrowSchema* out);

  int (*get_next)(struct ArrowArrayStream*, struct ArrowArray* out);

  const char* (*get_last_error)(struct ArrowArrayStream*);

  void (*release)(struct ArrowArrayStream*);

  void* private_data;
};


#define SHEAF_VERSION_MAJOR 0

#define SHEAF_VERSION_MINOR 1

#define SHEAF_VERSION_PATCH 0

#define SHEAF_ABI_VERSION 6

#define SHEAF_LOG_ERROR 1

#define SHEAF_LOG_WARN 2

#define SHEAF_LOG_INFO 3

#define SHEAF_LOG_DEBUG 4

#define SHEAF_LOG_TRACE 5

#define SHEAF_SIZE_NOT_FOUND 18446744073709551615

#define SHEAF_MODE_DEFAULT 0

#define SHEAF_MODE_INCLUSIVE 1

#define SHEAF_MODE_APPEND 2

#define SHEAF_MODE_CONSUME 4

#define SHEAF_MODE_WAIT 8

#define SHEAF_MODE_NOTIFY 8

#define SHEAF_MODE_NEW_ONLY 16

#define SHEAF_MODE_EXIST_ONLY 32

#define SHEAF_MODE_NO_PREFIX 64

#define SHEAF_MODE_IGNORE_KEYS 128

#define SHEAF_MODE_KEEP_LAST 384

#define SHEAF_MODE_SUFFIX 512

#define SHEAF_MODE_NO_RDMA 16384

#define SHEAF_MODE_UPDATE_NEW 32768

#define NO_RDMA 16384

typedef struct SheafCancel SheafCancel;

typedef struct SheafCollection SheafCollection;

typedef struct SheafError SheafError;

typedef struct SheafKeySpace SheafKeySpace;

typedef struct SheafLibrary SheafLibrary;

typedef struct SheafStore SheafStore;

typedef int32_t SheafStatus;

typedef struct SheafBytes {
  uint8_t *data;
  size_t len;
} SheafBytes;

typedef void (*SheafLogCallback)(int32_t level, const char *message, size_t len, void *user_data);

typedef void (*SheafProgressCallback)(const char *stage, const char *unit, uint64_t done, uint64_t total, void *user_data);

typedef struct SheafSlice {
  const uint8_t *data;
  size_t len;
} SheafSlice;

#define SHEAF_OK 0

#define SHEAF_ERR_GENERIC 100

#define SHEAF_ERR_UNSUPPORTED 101

#define SHEAF_ERR_TIMEOUT 102

#define SHEAF_ERR_CANCELLED 103

#define SHEAF_ERR_IO 200

#define SHEAF_ERR_STORAGE 201

#define SHEAF_ERR_STORAGE_FULL 202

#define SHEAF_ERR_CORRUPT 203

#define SHEAF_ERR_NOT_FOUND 300

#define SHEAF_ERR_NO_SUCH_LIBRARY 301

#define SHEAF_ERR_NO_SUCH_SYMBOL 302

#define SHEAF_ERR_NO_SUCH_VERSION 303

#define SHEAF_ERR_NO_SUCH_SNAPSHOT 304

#define SHEAF_ERR_NO_SUCH_KEY 305

#define SHEAF_ERR_NO_SUCH_COLLECTION 306

#define SHEAF_ERR_NO_SUCH_DOCUMENT 307

#define SHEAF_ERR_CONFLICT 400

#define SHEAF_ERR_LIBRARY_EXISTS 401

#define SHEAF_ERR_KEY_EXISTS 402

#define SHEAF_ERR_SNAPSHOT_EXISTS 403

#define SHEAF_ERR_COLLECTION_EXISTS 404

#define SHEAF_ERR_SCHEMA 500

#define SHEAF_ERR_UNSORTED_INDEX 501

#define SHEAF_ERR_UNSUPPORTED_TYPE 502

#define SHEAF_ERR_INVALID_ARGUMENT 600

#define SHEAF_ERR_NULL_POINTER 601

#define SHEAF_ERR_INVALID_UTF8 602

#define SHEAF_ERR_INVALID_NAME 603

#define SHEAF_ERR_INVALID_URI 604

#define SHEAF_ERR_INVALID_JSON 605

#define SHEAF_ERR_BUFFER_TOO_SMALL 606

#define SHEAF_ERR_INVALID_MODE 607

#define SHEAF_ERR_UNKNOWN_CONFIG_KEY 608

#define SHEAF_ERR_INVALID_ARROW 609

#define SHEAF_ERR_CLOSED 700

#define SHEAF_ERR_INTERNAL 900

SheafStatus sheaf_error_code(const struct SheafError *err);

const char *sheaf_error_message(const struct SheafError *err);

void sheaf_error_free(struct SheafError *err);

void sheaf_bytes_free(struct SheafBytes *bytes);

const char *sheaf_version(void);

uint32_t sheaf_abi_version(void);

const char *sheaf_status_name(SheafStatus status);

SheafStatus sheaf_config_set_int(const char *key, size_t key_len, int64_t value, struct SheafError **err);

SheafStatus sheaf_config_set_string(const char *key, size_t key_len, const char *value, size_t value_len, struct SheafError **err);

SheafStatus sheaf_log_set_callback(SheafLogCallback callback, void *user_data, struct SheafError **err);

SheafStatus sheaf_progress_set_callback(SheafProgressCallback callback, void *user_data, struct SheafError **err);

SheafStatus sheaf_debug_panic(struct SheafError **err);

SheafStatus sheaf_debug_pause_arm(const char *step, size_t step_len, struct SheafError **err);

SheafStatus sheaf_debug_pause_wait(uint64_t timeout_ms, struct SheafError **err);

SheafStatus sheaf_debug_pause_release(struct SheafError **err);

SheafStatus sheaf_store_open(const char *uri, size_t uri_len, struct SheafStore **out, struct SheafError **err);

SheafStatus sheaf_store_close(struct SheafStore *store, struct SheafError **err);

void sheaf_store_free(struct SheafStore *store);

SheafStatus sheaf_library_create(const struct SheafStore *store, const char *name, size_t name_len, const char *options_json, size_t options_len, struct SheafLibrary **out, struct SheafError **err);

SheafStatus sheaf_library_open(const struct SheafStore *store, const char *name, size_t name_len, bool create_if_missing, const char *options_json, size_t options_len, struct SheafLibrary **out, struct SheafError **err);

SheafStatus sheaf_library_delete(const struct SheafStore *store, const char *name, size_t name_len, bool *out_existed, struct SheafError **err);

SheafStatus sheaf_library_exists(const struct SheafStore *store, const char *name, size_t name_len, bool *out, struct SheafError **err);

SheafStatus sheaf_library_list(const struct SheafStore *store, struct SheafBytes *out_json, struct SheafError **err);

SheafStatus sheaf_store_verify(const struct SheafStore *store, struct SheafBytes *out_json, struct SheafError **err);

SheafStatus sheaf_store_reclaim(const struct SheafStore *store, const char *options, size_t options_len, struct SheafBytes *out_json, struct SheafError **err);

SheafStatus sheaf_library_describe(const struct SheafLibrary *library, struct SheafBytes *out_json, struct SheafError **err);

SheafStatus sheaf_library_stats(const struct SheafLibrary *library, struct SheafBytes *out_json, struct SheafError **err);

SheafStatus sheaf_library_close(struct SheafLibrary *library, struct SheafError **err);

void sheaf_library_free(struct SheafLibrary *library);

SheafStatus sheaf_table_write(const struct SheafLibrary *library, const char *symbol, size_t symbol_len, struct ArrowArrayStream *data, const uint8_t *metadata, size_t metadata_len, const char *options_json, size_t options_len, uint64_t *out_version, struct SheafError **err);

SheafStatus sheaf_table_append(const struct SheafLibrary *library, const char *symbol, size_t symbol_len, struct ArrowArrayStream *data, const uint8_t *metadata, size_t metadata_len, const char *options_json, size_t options_len, uint64_t *out_version, struct SheafError **err);

SheafStatus sheaf_table_update(const struct SheafLibrary *library, const char *symbol, size_t symbol_len, struct ArrowArrayStream *data, const uint8_t *metadata, size_t metadata_len, const char *options_json, size_t options_len, uint64_t *out_version, struct SheafError **err);

SheafStatus sheaf_table_merge(const struct SheafLibrary *library, const char *symbol, size_t symbol_len, struct ArrowArrayStream *data, const uint8_t *metadata, size_t metadata_len, const char *options_json, size_t options_len, uint64_t *out_version, struct SheafError **err);

SheafStatus sheaf_table_delete_data_in_range(const struct SheafLibrary *library, const char *symbol, size_t symbol_len, const char *options_json, size_t options_len, uint64_t *out_version, struct SheafError **err);

SheafStatus sheaf_table_write_metadata(const struct SheafLibrary *library, const char *symbol, size_t symbol_len, const uint8_t *metadata, size_t metadata_len, const char *options_json, size_t options_len, uint64_t *out_version, struct SheafError **err);

SheafStatus sheaf_table_read(const struct SheafLibrary *library, const char *symbol, size_t symbol_len, const char *options_json, size_t options_len, struct ArrowArrayStream *out_stream, struct SheafBytes *out_info, struct SheafBytes *out_metadata, struct SheafError **err);

SheafStatus sheaf_table_read_metadata(const struct SheafLibrary *library, const char *symbol, size_t symbol_len, const char *options_json, size_t options_len, struct SheafBytes *out_info, struct SheafBytes *out_metadata, struct SheafError **err);

SheafStatus sheaf_table_describe(const struct SheafLibrary *library, const char *symbol, size_t symbol_len, const char *options_json, size_t options_len, struct SheafBytes *out_json, struct SheafError **err);

SheafStatus sheaf_table_storage_sizes(const struct SheafLibrary *library, const char *symbol, size_t symbol_len, struct SheafBytes *out_json, struct SheafError **err);

SheafStatus sheaf_table_list_symbols(const struct SheafLibrary *library, struct SheafBytes *out_json, struct SheafError **err);

SheafStatus sheaf_table_list_symbols_filtered(const struct SheafLibrary *library, const char *options, size_t options_len, struct SheafBytes *out_json, struct SheafError **err);

SheafStatus sheaf_table_has_symbol(const struct SheafLibrary *library, const char *symbol, size_t symbol_len, bool *out, struct SheafError **err);

SheafStatus sheaf_table_list_versions(const struct SheafLibrary *library, const char *symbol, size_t symbol_len, struct SheafBytes *out_json, struct SheafError **err);

SheafStatus sheaf_table_query_versions(const struct SheafLibrary *library, const char *options_json, size_t options_len, struct SheafBytes *out_json, struct SheafError **err);

SheafStatus sheaf_table_delete(const struct SheafLibrary *library, const char *symbol, size_t symbol_len, const uint64_t *versions, size_t n_versions, struct SheafError **err);

SheafStatus sheaf_table_prune_previous_versions(const struct SheafLibrary *library, const char *symbol, size_t symbol_len, struct SheafError **err);

SheafStatus sheaf_table_compact(const struct SheafLibrary *library, const char *symbol, size_t symbol_len, const char *options_json, size_t options_len, uint64_t *out_version, struct SheafError **err);

SheafStatus sheaf_snapshot_create(const struct SheafLibrary *library, const char *name, size_t name_len, const uint8_t *metadata, size_t metadata_len, const char *options_json, size_t options_len, struct SheafError **err);

SheafStatus sheaf_snapshot_list(const struct SheafLibrary *library, struct SheafBytes *out_json, struct SheafError **err);

SheafStatus sheaf_snapshot_read_metadata(const struct SheafLibrary *library, const char *name, size_t name_len, struct SheafBytes *out_metadata, bool *out_has_metadata, struct SheafError **err);

SheafStatus sheaf_snapshot_delete(const struct SheafLibrary *library, const char *name, size_t name_len, struct SheafError **err);

SheafStatus sheaf_snapshot_list_symbols(const struct SheafLibrary *library, const char *name, size_t name_len, struct SheafBytes *out_json, struct SheafError **err);

SheafStatus sheaf_table_write_batch(const struct SheafLibrary *library, const char *items_json, size_t items_len, struct ArrowArrayStream *streams, const struct SheafSlice *metadata, size_t n_items, struct SheafBytes *out_results_json, struct SheafError **err);

SheafStatus sheaf_table_append_batch(const struct SheafLibrary *library, const char *items_json, size_t items_len, struct ArrowArrayStream *streams, const struct SheafSlice *metadata, size_t n_items, struct SheafBytes *out_results_json, struct SheafError **err);

SheafStatus sheaf_table_update_batch(const struct SheafLibrary *library, const char *items_json, size_t items_len, struct ArrowArrayStream *streams, const struct SheafSlice *metadata, size_t n_items, struct SheafBytes *out_results_json, struct SheafError **err);

SheafStatus sheaf_table_read_batch(const struct SheafLibrary *library, const char *items_json, size_t items_len, struct ArrowArrayStream *out_streams, struct SheafBytes *out_metadata, size_t n_items, struct SheafBytes *out_results_json, struct SheafError **err);

SheafStatus sheaf_table_read_concat(const struct SheafLibrary *library, const char *items_json, size_t items_len, const char *options_json, size_t options_len, struct ArrowArrayStream *out_stream, struct SheafBytes *out_metadata, size_t n_items, struct SheafBytes *out_infos_json, struct SheafError **err);

SheafStatus sheaf_table_read_metadata_batch(const struct SheafLibrary *library, const char *items_json, size_t items_len, struct SheafBytes *out_metadata, size_t n_items, struct SheafBytes *out_results_json, struct SheafError **err);

SheafStatus sheaf_table_describe_batch(const struct SheafLibrary *library, const char *items_json, size_t items_len, size_t n_items, struct SheafBytes *out_results_json, struct SheafError **err);

SheafStatus sheaf_table_write_metadata_batch(const struct SheafLibrary *library, const char *items_json, size_t items_len, const struct SheafSlice *metadata, size_t n_items, struct SheafBytes *out_results_json, struct SheafError **err);

SheafStatus sheaf_table_delete_batch(const struct SheafLibrary *library, const char *items_json, size_t items_len, struct SheafBytes *out_results_json, struct SheafError **err);

SheafStatus sheaf_table_stage(const struct SheafLibrary *library, const char *symbol, size_t symbol_len, struct ArrowArrayStream *data, const char *options_json, size_t options_len, struct SheafError **err);

SheafStatus sheaf_table_stage_chunk(const struct SheafLibrary *library, const char *symbol, size_t symbol_len, struct ArrowArrayStream *data, const char *options_json, size_t options_len, struct SheafBytes *out_chunk_id, struct SheafError **err);

SheafStatus sheaf_table_finalize_staged(const struct SheafLibrary *library, const char *symbol, size_t symbol_len, const uint8_t *metadata, size_t metadata_len, const char *options_json, size_t options_len, uint64_t *out_version, struct SheafError **err);

SheafStatus sheaf_table_list_staged_chunks(const struct SheafLibrary *library, const char *symbol, size_t symbol_len, struct SheafBytes *out_json, struct SheafError **err);

SheafStatus sheaf_table_list_staged_symbols(const struct SheafLibrary *library, struct SheafBytes *out_json, struct SheafError **err);

SheafStatus sheaf_table_delete_staged(const struct SheafLibrary *library, const char *symbol, size_t symbol_len, uint64_t *out_count, struct SheafError **err);

SheafStatus sheaf_kv_open(const struct SheafStore *store, const char *name, size_t name_len, struct SheafKeySpace **out, struct SheafError **err);

SheafStatus sheaf_kv_list_spaces(const struct SheafStore *store, struct SheafBytes *out_json, struct SheafError **err);

SheafStatus sheaf_kv_drop(const struct SheafStore *store, const char *name, size_t name_len, bool *out_existed, struct SheafError **err);

SheafStatus sheaf_kv_close(struct SheafKeySpace *kv, struct SheafError **err);

void sheaf_kv_free(struct SheafKeySpace *kv);

SheafStatus sheaf_kv_put(const struct SheafKeySpace *kv, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len, uint32_t mode, struct SheafError **err);

SheafStatus sheaf_kv_put_multi(const struct SheafKeySpace *kv, size_t n, const uint8_t *keys, const size_t *key_sizes, const uint8_t *values, const size_t *value_sizes, uint32_t mode, int32_t *out_statuses, struct SheafError **err);

SheafStatus sheaf_kv_get(const struct SheafKeySpace *kv, const uint8_t *key, size_t key_len, uint32_t mode, uint64_t timeout_ms, struct SheafBytes *out_value, struct SheafError **err);

SheafStatus sheaf_kv_get_into(const struct SheafKeySpace *kv, const uint8_t *key, size_t key_len, uint32_t mode, uint64_t timeout_ms, uint8_t *buffer, size_t capacity, size_t *out_size, struct SheafError **err);

SheafStatus sheaf_kv_get_multi(const struct SheafKeySpace *kv, size_t n, const uint8_t *keys, const size_t *key_sizes, uint32_t mode, struct SheafBytes *out_values, struct SheafBytes *out_sizes, struct SheafError **err);

SheafStatus sheaf_kv_exists_multi(const struct SheafKeySpace *kv, size_t n, const uint8_t *keys, const size_t *key_sizes, uint8_t *out_flags, struct SheafError **err);

SheafStatus sheaf_kv_length_multi(const struct SheafKeySpace *kv, size_t n, const uint8_t *keys, const size_t *key_sizes, uint64_t *out_lengths, struct SheafError **err);

SheafStatus sheaf_kv_erase_multi(const struct SheafKeySpace *kv, size_t n, const uint8_t *keys, const size_t *key_sizes, uint8_t *out_existed, struct SheafError **err);

SheafStatus sheaf_kv_exists(const struct SheafKeySpace *kv, const uint8_t *key, size_t key_len, bool *out, struct SheafError **err);

SheafStatus sheaf_kv_length(const struct SheafKeySpace *kv, const uint8_t *key, size_t key_len, uint64_t *out, struct SheafError **err);

SheafStatus sheaf_kv_erase(const struct SheafKeySpace *kv, const uint8_t *key, size_t key_len, bool *out_existed, struct SheafError **err);

SheafStatus sheaf_kv_count(const struct SheafKeySpace *kv, uint64_t *out, struct SheafError **err);

SheafStatus sheaf_kv_erase_range(const struct SheafKeySpace *kv, const uint8_t *prefix, size_t prefix_len, uint64_t *out_erased, struct SheafError **err);

SheafStatus sheaf_kv_list(const struct SheafKeySpace *kv, const uint8_t *from_key, size_t from_key_len, const uint8_t *filter, size_t filter_len, size_t count, uint32_t mode, struct SheafBytes *out_keys, struct SheafBytes *out_key_sizes, struct SheafBytes *out_values, struct SheafBytes *out_value_sizes, struct SheafError **err);

SheafStatus sheaf_collection_create(const struct SheafStore *store, const char *name, size_t name_len, struct SheafCollection **out, struct SheafError **err);

SheafStatus sheaf_collection_open(const struct SheafStore *store, const char *name, size_t name_len, struct SheafCollection **out, struct SheafError **err);

SheafStatus sheaf_collection_drop(const struct SheafStore *store, const char *name, size_t name_len, struct SheafError **err);

SheafStatus sheaf_collection_exists(const struct SheafStore *store, const char *name, size_t name_len, bool *out, struct SheafError **err);

SheafStatus sheaf_collection_list(const struct SheafStore *store, struct SheafBytes *out_json, struct SheafError **err);

SheafStatus sheaf_collection_close(struct SheafCollection *c, struct SheafError **err);

void sheaf_collection_free(struct SheafCollection *c);

SheafStatus sheaf_collection_size(const struct SheafCollection *c, uint64_t *out_size, uint64_t *out_last_id, struct SheafError **err);

SheafStatus sheaf_doc_store(const struct SheafCollection *c, const uint8_t *doc, size_t doc_len, uint64_t *out_id, struct SheafError **err);

SheafStatus sheaf_doc_load(const struct SheafCollection *c, uint64_t id, struct SheafBytes *out_doc, struct SheafError **err);

SheafStatus sheaf_doc_load_into(const struct SheafCollection *c, uint64_t id, uint8_t *buffer, size_t capacity, size_t *out_size, struct SheafError **err);

SheafStatus sheaf_doc_store_multi(const struct SheafCollection *c, size_t n, const uint8_t *docs, const size_t *doc_sizes, uint64_t *out_ids, struct SheafError **err);

SheafStatus sheaf_doc_load_multi(const struct SheafCollection *c, size_t n, const uint64_t *ids, struct SheafBytes *out_docs, struct SheafBytes *out_sizes, struct SheafError **err);

SheafStatus sheaf_doc_update_multi(const struct SheafCollection *c, size_t n, const uint64_t *ids, const uint8_t *docs, const size_t *doc_sizes, uint32_t mode, struct SheafError **err);

SheafStatus sheaf_doc_erase_multi(const struct SheafCollection *c, size_t n, const uint64_t *ids, struct SheafError **err);

SheafStatus sheaf_doc_list(const struct SheafCollection *c, uint64_t start_id, size_t count, const char *filter_json, size_t filter_len, struct SheafBytes *out_ids, struct SheafBytes *out_docs, struct SheafBytes *out_sizes, struct SheafError **err);

SheafStatus sheaf_cancel_new(struct SheafCancel **out, struct SheafError **err);

SheafStatus sheaf_cancel_trigger(const struct SheafCancel *cancel, struct SheafError **err);

void sheaf_cancel_free(struct SheafCancel *cancel);

SheafStatus sheaf_sql(const struct SheafLibrary *library, const char *sql, size_t sql_len, const char *params_json, size_t params_len, struct ArrowArrayStream *out, struct SheafError **err);

SheafStatus sheaf_sql_cancellable(const struct SheafLibrary *library, const char *sql, size_t sql_len, const char *params_json, size_t params_len, const struct SheafCancel *cancel, struct ArrowArrayStream *out, struct SheafError **err);

SheafStatus sheaf_store_sql(const struct SheafStore *store, const char *sql, size_t sql_len, const char *params_json, size_t params_len, struct ArrowArrayStream *out, struct SheafError **err);

SheafStatus sheaf_store_sql_cancellable(const struct SheafStore *store, const char *sql, size_t sql_len, const char *params_json, size_t params_len, const struct SheafCancel *cancel, struct ArrowArrayStream *out, struct SheafError **err);
