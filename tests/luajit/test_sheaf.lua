-- test_sheaf.lua — Sheaf's C ABI driven from LuaJIT's FFI, a second language beside C.
--
--   luajit tests/luajit/test_sheaf.lua <cdef file> <path to libsheaf.so> <temporary directory>
--
-- The cdef file holds the declarations of include/sheaf.h as tests/luajit/run_luajit_tests.py
-- derives them (nothing here is copied from the header): comments, preprocessor lines and the
-- extern "C" guards removed, integer #defines as `static const int`, and constants wider than
-- 32 bits (which LuaJIT cannot declare) on `//@const64 NAME VALUE` comment lines read below.
--
-- Covers: versions; an LMDB store in the temporary directory; a library; a table written from
-- an Arrow C stream built here (ArrowSchema / ArrowArray / ArrowArrayStream allocated with
-- ffi.new, release callbacks that are ffi.cast Lua functions) and read back through
-- sheaf_table_read's stream with every value checked; an append and time travel; the version
-- info JSON; a key space (put / get / exists / length / erase, a missing key); and errors
-- (a missing symbol, bad UTF-8, a handle of the wrong kind, NULL pointers, a failing stream).
-- Prints TAP (`ok N - …` / `not ok N - …`, then `1..N`) and exits 1 when a check failed.

local ffi = require("ffi")
local bit = require("bit")

-- The library calls the stream callbacks below from inside sheaf_table_write. A C call made
-- from a JIT-compiled trace must not call back into Lua, so this (short) program runs in the
-- interpreter.
jit.off()

local cdef_path, lib_path, tmpdir = arg[1], arg[2], arg[3]
if not (cdef_path and lib_path and tmpdir) then
  io.stderr:write("usage: luajit test_sheaf.lua <cdef file> <libsheaf.so> <tmpdir>\n")
  os.exit(2)
end

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

local cdef_text = read_file(cdef_path)
ffi.cdef(cdef_text)
local C = ffi.load(lib_path)

-- The constants: `static const` ones come through the library namespace (C.SHEAF_OK), the wide
-- ones from their comment lines as uint64_t cdata.
local K = setmetatable({}, { __index = function(_, name) return C[name] end })
for name, value in cdef_text:gmatch("//@const64%s+([%w_]+)%s+(%d+ULL)") do
  rawset(K, name, assert(loadstring("return " .. value))())
end

-- ---- TAP ----------------------------------------------------------------------------------------

local n_checks, n_failed = 0, 0

local function diag(text)
  for line in (tostring(text) .. "\n"):gmatch("(.-)\n") do
    print("# " .. line)
  end
end

local function check(cond, description, detail)
  n_checks = n_checks + 1
  if cond then
    print(("ok %d - %s"):format(n_checks, description))
  else
    n_failed = n_failed + 1
    print(("not ok %d - %s"):format(n_checks, description))
    if detail ~= nil then diag(detail) end
  end
  return cond
end

-- ---- errors, bytes, statuses --------------------------------------------------------------------

local errp = ffi.new("SheafError*[1]")

-- The error a call left in errp (freed here), as {code =, message =}; nil when there is none.
local function take_error()
  local e = errp[0]
  if e == nil then return nil end
  local result = { code = C.sheaf_error_code(e), message = ffi.string(C.sheaf_error_message(e)) }
  C.sheaf_error_free(e)
  errp[0] = nil
  return result
end

local function status_name(status)
  return ffi.string(C.sheaf_status_name(status))
end

-- Checks that a call returned SHEAF_OK and left no error.
local function check_ok(status, description)
  local e = take_error()
  return check(status == K.SHEAF_OK and e == nil, description,
    ("status %s (%d): %s"):format(status_name(status), status, e and e.message or "no error"))
end

-- Checks that a call returned `expected` with an error object of the same code whose message
-- holds `fragment` (plain text; nil: any non-empty message).
local function check_err(status, expected, description, fragment)
  local e = take_error()
  local ok = status == expected and e ~= nil and e.code == expected and #e.message > 0
  if ok and fragment then ok = e.message:find(fragment, 1, true) ~= nil end
  check(ok, description, ("expected %s, got %s (%d), error %s"):format(
    status_name(expected), status_name(status), status,
    e and ("%d: %s"):format(e.code, e.message) or "none"))
  return e
end

-- The text of a SheafBytes (freed here; the struct is reset to {NULL, 0}).
local function take_bytes(b)
  local text = b[0].data ~= nil and ffi.string(b[0].data, b[0].len) or ""
  C.sheaf_bytes_free(b)
  return text
end

-- Whether JSON text has `"key": value` (value as JSON text, e.g. `5`, `"id"`, `false`).
local function json_has(json, key, value)
  local pattern = '"' .. key .. '"%s*:%s*' .. value:gsub("%p", "%%%0")
  return json:find(pattern) ~= nil
end

-- ---- an Arrow C stream producer in Lua ----------------------------------------------------------
--
-- Every schema, array and stream this producer fills gets an id (its private_data) under which
-- `live` anchors the Lua-owned memory it points to (child structs, buffers, C strings) until its
-- release callback runs. The callbacks are six ffi.cast functions shared by all objects, freed
-- at the end once nothing is live; errors inside them are caught (an error must not unwind
-- through the library's frames) and reported as checks.

local live, n_live, next_id = {}, 0, 0
local callback_errors = {}

local function anchor(objects)
  next_id = next_id + 1
  live[next_id] = objects
  n_live = n_live + 1
  return ffi.cast("void *", next_id)
end

local function unanchor(private_data)
  local id = tonumber(ffi.cast("intptr_t", private_data))
  if live[id] == nil then error("release of an unknown or released object " .. id) end
  live[id] = nil
  n_live = n_live - 1
end

local function guarded(default, fn)
  return function(...)
    local ok, result = pcall(fn, ...)
    if ok then return result end
    callback_errors[#callback_errors + 1] = tostring(result)
    return default
  end
end

local function cstring(objects, s)
  local buf = ffi.new("char[?]", #s + 1, s)
  objects[#objects + 1] = buf
  return buf
end

local callbacks = {}

local function release_schema(schema)
  for i = 0, tonumber(schema.n_children) - 1 do
    local child = schema.children[i]
    if child.release ~= nil then child.release = nil end -- children live in the parent's anchors
  end
  if schema.private_data ~= nil then unanchor(schema.private_data) end -- nil: a child
  schema.release = nil
end

local function release_array(array)
  for i = 0, tonumber(array.n_children) - 1 do
    local child = array.children[i]
    if child.release ~= nil then child.release = nil end
  end
  if array.private_data ~= nil then unanchor(array.private_data) end -- nil: a child
  array.release = nil
end

-- Fills `out` (consumer-allocated) with a struct schema of `columns` ({name =, format =}).
local function fill_schema(out, columns)
  local objects = {}
  local n = #columns
  local children = ffi.new("struct ArrowSchema[?]", n)
  local pointers = ffi.new("struct ArrowSchema *[?]", n)
  objects.children, objects.pointers = children, pointers
  for i, column in ipairs(columns) do
    local c = children[i - 1]
    c.format = cstring(objects, column.format)
    c.name = cstring(objects, column.name)
    c.metadata = nil
    c.flags = K.ARROW_FLAG_NULLABLE
    c.n_children = 0
    c.children = nil
    c.dictionary = nil
    c.release = callbacks.release_schema -- released with the parent (see release_schema)
    c.private_data = nil
    pointers[i - 1] = c
  end
  out.format = cstring(objects, "+s")
  out.name = cstring(objects, "")
  out.metadata = nil
  out.flags = 0
  out.n_children = n
  out.children = pointers
  out.dictionary = nil
  out.release = callbacks.release_schema
  out.private_data = anchor(objects)
end

-- A validity bitmap for `values` where `nil_at[i]` marks row i (1-based) null; nil without nulls.
local function validity(objects, n, nil_at)
  local nulls = 0
  for i = 1, n do if nil_at[i] then nulls = nulls + 1 end end
  if nulls == 0 then return nil, 0 end
  local bitmap = ffi.new("uint8_t[?]", math.floor((n + 7) / 8))
  for i = 1, n do
    if not nil_at[i] then
      local k = i - 1
      bitmap[math.floor(k / 8)] = bit.bor(bitmap[math.floor(k / 8)], bit.lshift(1, k % 8))
    end
  end
  objects[#objects + 1] = bitmap
  return bitmap, nulls
end

-- Fills child array `a` with the values of one column (format "l", "g" or "u"); a value equal
-- to `NULL` (below) is a null.
local NULL = {}
local function fill_column(a, objects, format, values)
  local n = #values
  local nil_at = {}
  for i = 1, n do nil_at[i] = values[i] == NULL end
  local bitmap, nulls = validity(objects, n, nil_at)
  local buffers
  if format == "l" or format == "g" then
    local data = ffi.new(format == "l" and "int64_t[?]" or "double[?]", math.max(n, 1))
    for i = 1, n do
      if not nil_at[i] then data[i - 1] = values[i] end
    end
    buffers = ffi.new("const void *[2]")
    buffers[0], buffers[1] = bitmap, data
    objects[#objects + 1] = data
    a.n_buffers = 2
  elseif format == "u" then
    local offsets = ffi.new("int32_t[?]", n + 1)
    local total = 0
    for i = 1, n do
      if not nil_at[i] then total = total + #values[i] end
      offsets[i] = total
    end
    local data = ffi.new("uint8_t[?]", math.max(total, 1))
    for i = 1, n do
      if not nil_at[i] then ffi.copy(data + offsets[i - 1], values[i], #values[i]) end
    end
    buffers = ffi.new("const void *[3]")
    buffers[0], buffers[1], buffers[2] = bitmap, offsets, data
    objects[#objects + 1] = offsets
    objects[#objects + 1] = data
    a.n_buffers = 3
  else
    error("unsupported format " .. format)
  end
  objects[#objects + 1] = buffers
  a.length = n
  a.null_count = nulls
  a.offset = 0
  a.buffers = buffers
  a.n_children = 0
  a.children = nil
  a.dictionary = nil
  a.release = callbacks.release_array -- released with the parent (see release_array)
  a.private_data = nil
end

-- Fills `out` (consumer-allocated) with a struct array: one child per column of `columns`,
-- values from `batch[name]`.
local function fill_batch(out, columns, batch)
  local objects = {}
  local n = #columns
  local children = ffi.new("struct ArrowArray[?]", n)
  local pointers = ffi.new("struct ArrowArray *[?]", n)
  local buffers = ffi.new("const void *[1]") -- a struct array has only a validity buffer
  objects.children, objects.pointers, objects.buffers = children, pointers, buffers
  local rows = #batch[columns[1].name]
  for i, column in ipairs(columns) do
    fill_column(children[i - 1], objects, column.format, batch[column.name])
    pointers[i - 1] = children[i - 1]
  end
  out.length = rows
  out.null_count = 0
  out.offset = 0
  out.n_buffers = 1
  out.n_children = n
  out.buffers = buffers
  out.children = pointers
  out.dictionary = nil
  out.release = callbacks.release_array
  out.private_data = anchor(objects)
end

local streams = {} -- id of a stream's private_data -> its state

local function stream_state(stream)
  return streams[tonumber(ffi.cast("intptr_t", stream.private_data))]
end

local function stream_get_schema(stream, out)
  fill_schema(out, stream_state(stream).columns)
  return 0
end

local function stream_get_next(stream, out)
  local state = stream_state(stream)
  state.calls = state.calls + 1
  if state.fail_at == state.next then
    state.last_error = cstring(state.objects, "the Lua producer failed on purpose")
    return 5 -- EIO
  end
  local batch = state.batches[state.next]
  if batch == nil then
    out.release = nil -- the end of the stream
    return 0
  end
  fill_batch(out, state.columns, batch)
  state.next = state.next + 1
  return 0
end

local function stream_get_last_error(stream)
  return stream_state(stream).last_error
end

local function stream_release(stream)
  local id = tonumber(ffi.cast("intptr_t", stream.private_data))
  streams[id].released = true
  streams[id] = nil
  unanchor(stream.private_data)
  stream.release = nil
end

callbacks.release_schema =
  ffi.cast("void (*)(struct ArrowSchema *)", guarded(nil, release_schema))
callbacks.release_array = ffi.cast("void (*)(struct ArrowArray *)", guarded(nil, release_array))
callbacks.get_schema = ffi.cast("int (*)(struct ArrowArrayStream *, struct ArrowSchema *)",
  guarded(22, stream_get_schema)) -- EINVAL after a Lua error
callbacks.get_next = ffi.cast("int (*)(struct ArrowArrayStream *, struct ArrowArray *)",
  guarded(22, stream_get_next))
callbacks.get_last_error = ffi.cast("const char *(*)(struct ArrowArrayStream *)",
  guarded(nil, stream_get_last_error))
callbacks.release_stream =
  ffi.cast("void (*)(struct ArrowArrayStream *)", guarded(nil, stream_release))

-- A stream (ffi.new; moved into the library by a write) producing `batches` of `columns`.
-- Returns the stream struct and its state ({released =, calls =, …}).
local function make_stream(columns, batches, fail_at)
  local stream = ffi.new("struct ArrowArrayStream[1]")
  local state = { columns = columns, batches = batches, next = 1, fail_at = fail_at, calls = 0,
    objects = {}, released = false }
  local private = anchor(state.objects)
  streams[tonumber(ffi.cast("intptr_t", private))] = state
  stream[0].get_schema = callbacks.get_schema
  stream[0].get_next = callbacks.get_next
  stream[0].get_last_error = callbacks.get_last_error
  stream[0].release = callbacks.release_stream
  stream[0].private_data = private
  return stream, state
end

-- ---- an Arrow C stream consumer -----------------------------------------------------------------

local function cell(a, format, row)
  local k = tonumber(a.offset) + row
  local bitmap = a.buffers[0]
  if bitmap ~= nil then
    local byte = ffi.cast("const uint8_t *", bitmap)[math.floor(k / 8)]
    if bit.band(byte, bit.lshift(1, k % 8)) == 0 then return NULL end
  end
  if format == "l" then
    return tonumber(ffi.cast("const int64_t *", a.buffers[1])[k])
  elseif format == "g" then
    return ffi.cast("const double *", a.buffers[1])[k]
  elseif format == "u" or format == "U" then
    local offsets = ffi.cast(format == "u" and "const int32_t *" or "const int64_t *", a.buffers[1])
    local first, last = tonumber(offsets[k]), tonumber(offsets[k + 1])
    return ffi.string(ffi.cast("const char *", a.buffers[2]) + first, last - first)
  end
  error("unexpected format " .. format)
end

-- Reads a whole stream (released here) into {names =, formats =, columns = {name -> values},
-- rows =, batches =}; nil and a message when a callback fails.
local function read_stream(stream)
  local s = stream[0]
  local schema = ffi.new("struct ArrowSchema[1]")
  local code = s.get_schema(stream, schema)
  if code ~= 0 then
    local msg = s.get_last_error(stream)
    s.release(stream)
    return nil, ("get_schema failed (%d): %s"):format(code, msg ~= nil and ffi.string(msg) or "")
  end
  local result = { names = {}, formats = {}, columns = {}, rows = 0, batches = 0,
    top_format = ffi.string(schema[0].format) }
  for i = 0, tonumber(schema[0].n_children) - 1 do
    local child = schema[0].children[i]
    result.names[i + 1] = ffi.string(child.name)
    result.formats[i + 1] = ffi.string(child.format)
    result.columns[result.names[i + 1]] = {}
  end
  schema[0].release(schema)
  result.schema_released = schema[0].release == nil
  local array = ffi.new("struct ArrowArray[1]")
  while true do
    code = s.get_next(stream, array)
    if code ~= 0 then
      local msg = s.get_last_error(stream)
      s.release(stream)
      return nil, ("get_next failed (%d): %s"):format(code, msg ~= nil and ffi.string(msg) or "")
    end
    if array[0].release == nil then break end
    result.batches = result.batches + 1
    for i = 0, tonumber(array[0].n_children) - 1 do
      local child = array[0].children[i]
      local values = result.columns[result.names[i + 1]]
      for row = 0, tonumber(child.length) - 1 do
        values[#values + 1] = cell(child, result.formats[i + 1], row)
      end
    end
    result.rows = result.rows + tonumber(array[0].length)
    array[0].release(array)
  end
  s.release(stream)
  result.stream_released = s.release == nil
  return result
end

local function same_values(got, want)
  if #got ~= #want then return false, ("%d values, expected %d"):format(#got, #want) end
  for i = 1, #want do
    if got[i] ~= want[i] then
      local function show(v) return v == NULL and "null" or tostring(v) end
      return false, ("value %d: %s, expected %s"):format(i, show(got[i]), show(want[i]))
    end
  end
  return true
end

-- ---- the checks ---------------------------------------------------------------------------------

-- Versions.
local version = ffi.string(C.sheaf_version())
check(version == ("%d.%d.%d"):format(K.SHEAF_VERSION_MAJOR, K.SHEAF_VERSION_MINOR,
  K.SHEAF_VERSION_PATCH), "sheaf_version() matches the header's SHEAF_VERSION_*", version)
check(C.sheaf_abi_version() == K.SHEAF_ABI_VERSION,
  "sheaf_abi_version() == SHEAF_ABI_VERSION", tostring(C.sheaf_abi_version()))
check(status_name(K.SHEAF_ERR_NO_SUCH_SYMBOL) == "SHEAF_ERR_NO_SUCH_SYMBOL"
  and status_name(K.SHEAF_OK) == "SHEAF_OK",
  "sheaf_status_name names the header's status codes")
check(C.sheaf_error_code(nil) == K.SHEAF_OK and ffi.string(C.sheaf_error_message(nil)) == "",
  "a NULL error has code SHEAF_OK and message \"\"")

-- A store (LMDB, in the temporary directory; a small map so that valgrind can map it).
local store_p = ffi.new("SheafStore *[1]")
local uri = "lmdb://" .. tmpdir .. "/store?map_size=256MB"
check_ok(C.sheaf_store_open(uri, #uri, store_p, errp), "sheaf_store_open on " .. uri)
local store = store_p[0]
if store == nil then
  print("Bail out! no store")
  os.exit(1)
end

-- A library: create, then open the same library through create_if_missing.
local lib_p = ffi.new("SheafLibrary *[1]")
local options = '{"rows_per_segment": 4}'
check_ok(C.sheaf_library_create(store, "lua", 3, options, #options, lib_p, errp),
  "sheaf_library_create \"lua\" (rows_per_segment 4)")
C.sheaf_library_free(lib_p[0])
lib_p[0] = nil
check_ok(C.sheaf_library_open(store, "lua", 3, true, nil, 0, lib_p, errp),
  "sheaf_library_open \"lua\" (create_if_missing)")
local lib = lib_p[0]
if lib == nil then
  print("Bail out! no library")
  os.exit(1)
end
local list = ffi.new("SheafBytes[1]")
check_ok(C.sheaf_library_list(store, list, errp), "sheaf_library_list")
local libraries = take_bytes(list)
check(libraries:find('"lua"', 1, true) ~= nil and list[0].data == nil and list[0].len == 0,
  "the library list holds \"lua\"; sheaf_bytes_free reset the bytes", libraries)

-- Write a table from a stream built in Lua: two batches, an int64 index, a float64 column with
-- a null, a utf8 column with a null, an empty string and multi-byte characters.
local columns = {
  { name = "id", format = "l" },
  { name = "price", format = "g" },
  { name = "name", format = "u" },
}
local batches = {
  { id = { 1, 2, 3 }, price = { 10.5, NULL, -0.25 }, name = { "alpha", "", "h\xc3\xa9llo" } },
  { id = { 4, 5 }, price = { 1e300, 42 }, name = { NULL, "\xe6\x97\xa5\xe6\x9c\xac" } },
}
local want = { id = {}, price = {}, name = {} }
for _, b in ipairs(batches) do
  for _, column in ipairs(columns) do
    for _, v in ipairs(b[column.name]) do want[column.name][#want[column.name] + 1] = v end
  end
end

local stream, state = make_stream(columns, batches)
local version_p = ffi.new("uint64_t[1]", 99)
local metadata = "lua-metadata\0with a NUL"
local write_options = '{"index": "id"}'
check_ok(C.sheaf_table_write(lib, "prices", 6, stream, metadata, #metadata, write_options,
  #write_options, version_p, errp), "sheaf_table_write \"prices\" from a Lua-built Arrow stream")
check(version_p[0] == 0, "the first write is version 0", tostring(version_p[0]))
check(state.released and stream[0].release == nil and state.calls == 3,
  "the library consumed the stream (3 get_next calls) and released it",
  ("released %s, get_next calls %d"):format(tostring(state.released), state.calls))
check(n_live == 0, "every schema, array and stream the Lua producer made was released",
  ("%d still live"):format(n_live))

-- Read it back.
local out_stream = ffi.new("struct ArrowArrayStream[1]")
local info = ffi.new("SheafBytes[1]")
local meta = ffi.new("SheafBytes[1]")
check_ok(C.sheaf_table_read(lib, "prices", 6, nil, 0, out_stream, info, meta, errp),
  "sheaf_table_read \"prices\" (latest)")
local info_json = take_bytes(info)
local meta_bytes = take_bytes(meta)
check(json_has(info_json, "symbol", '"prices"') and json_has(info_json, "version", "0")
  and json_has(info_json, "rows", "5") and json_has(info_json, "index", '"id"')
  and json_has(info_json, "has_metadata", "true") and json_has(info_json, "deleted", "false"),
  "the version info JSON: symbol, version 0, 5 rows, index id, has_metadata", info_json)
check(meta_bytes == metadata, "the metadata bytes come back exactly (NUL included)", meta_bytes)
local tbl, read_error = read_stream(out_stream)
check(tbl ~= nil, "the read stream yields its schema and batches", read_error)
if tbl then
  check(tbl.top_format == "+s" and tbl.names[1] == "id" and tbl.names[2] == "price"
    and tbl.names[3] == "name" and tbl.formats[1] == "l" and tbl.formats[2] == "g"
    and (tbl.formats[3] == "u" or tbl.formats[3] == "U"),
    "the schema: struct of id int64, price float64, name utf8",
    tbl.top_format .. " " .. table.concat(tbl.names, ",") .. " " .. table.concat(tbl.formats, ","))
  check(tbl.rows == 5 and tbl.batches >= 1, "5 rows come back",
    ("%d rows in %d batches"):format(tbl.rows, tbl.batches))
  for _, column in ipairs(columns) do
    local same, why = same_values(tbl.columns[column.name], want[column.name])
    check(same, "column " .. column.name .. " comes back value for value (nulls included)", why)
  end
  check(tbl.schema_released and tbl.stream_released,
    "the read's schema and stream are released through their callbacks")
end

-- Append (version 1) and time travel to version 0.
local more = { { id = { 6, 7 }, price = { 7.5, 8.5 }, name = { "six", "seven" } } }
stream, state = make_stream(columns, more)
check_ok(C.sheaf_table_append(lib, "prices", 6, stream, nil, 0, nil, 0, version_p, errp),
  "sheaf_table_append two rows")
check(version_p[0] == 1 and state.released and n_live == 0,
  "the append is version 1 and its stream was released",
  ("version %s, live %d"):format(tostring(version_p[0]), n_live))
local as_of = '{"as_of": 0, "columns": ["name"]}'
out_stream = ffi.new("struct ArrowArrayStream[1]")
check_ok(C.sheaf_table_read(lib, "prices", 6, as_of, #as_of, out_stream, info, nil, errp),
  "sheaf_table_read as_of 0, columns [name]")
info_json = take_bytes(info)
tbl, read_error = read_stream(out_stream)
check(tbl ~= nil and tbl.rows == 5 and #tbl.names == 2 and tbl.names[1] == "id"
  and tbl.names[2] == "name" and json_has(info_json, "version", "0"),
  "version 0 still has 5 rows; the index comes along with the selected column",
  read_error or info_json)
check_ok(C.sheaf_table_read_metadata(lib, "prices", 6, nil, 0, info, meta, errp),
  "sheaf_table_read_metadata (latest)")
info_json = take_bytes(info)
meta_bytes = take_bytes(meta)
check(json_has(info_json, "version", "1") and json_has(info_json, "rows", "7")
  and json_has(info_json, "has_metadata", "false") and meta_bytes == "",
  "the latest version info: version 1, 7 rows, no metadata", info_json)

-- A key space.
local kv_p = ffi.new("SheafKeySpace *[1]")
check_ok(C.sheaf_kv_open(store, "lua-kv", 6, kv_p, errp), "sheaf_kv_open \"lua-kv\"")
local kv = kv_p[0]
local key, value = "k\0ey", "v\0alue \xe2\x82\xac"
check_ok(C.sheaf_kv_put(kv, key, #key, value, #value, K.SHEAF_MODE_DEFAULT, errp),
  "sheaf_kv_put (key and value holding NUL bytes)")
local got = ffi.new("SheafBytes[1]")
check_ok(C.sheaf_kv_get(kv, key, #key, K.SHEAF_MODE_DEFAULT, 0, got, errp), "sheaf_kv_get")
local got_value = take_bytes(got)
check(got_value == value, "the value comes back exactly", got_value)
local flag = ffi.new("bool[1]")
check_ok(C.sheaf_kv_exists(kv, key, #key, flag, errp), "sheaf_kv_exists")
check(flag[0] == true, "the key exists")
local length = ffi.new("uint64_t[1]")
check_ok(C.sheaf_kv_length(kv, key, #key, length, errp), "sheaf_kv_length")
check(length[0] == #value, "its length is the value's", tostring(length[0]))
check_err(C.sheaf_kv_put(kv, key, #key, "x", 1, K.SHEAF_MODE_NEW_ONLY, errp),
  K.SHEAF_ERR_KEY_EXISTS, "a NEW_ONLY put of an existing key is SHEAF_ERR_KEY_EXISTS")
check_err(C.sheaf_kv_get(kv, "missing", 7, K.SHEAF_MODE_DEFAULT, 0, got, errp),
  K.SHEAF_ERR_NO_SUCH_KEY, "getting a missing key is SHEAF_ERR_NO_SUCH_KEY with a message")
check(got[0].data == nil and got[0].len == 0, "a failed get leaves the bytes empty")
check_ok(C.sheaf_kv_exists(kv, "missing", 7, flag, errp), "sheaf_kv_exists on a missing key")
check(flag[0] == false, "a missing key does not exist")
check_ok(C.sheaf_kv_length(kv, "missing", 7, length, errp), "sheaf_kv_length on a missing key")
check(length[0] == K.SHEAF_SIZE_NOT_FOUND, "a missing key's length is SHEAF_SIZE_NOT_FOUND",
  tostring(length[0]))
local count = ffi.new("uint64_t[1]")
check_ok(C.sheaf_kv_count(kv, count, errp), "sheaf_kv_count")
check(count[0] == 1, "the space holds one key", tostring(count[0]))
check_ok(C.sheaf_kv_erase(kv, key, #key, flag, errp), "sheaf_kv_erase")
check(flag[0] == true, "the erased key existed")
check_ok(C.sheaf_kv_erase(kv, key, #key, flag, errp), "sheaf_kv_erase again (not an error)")
check(flag[0] == false, "the second erase found nothing")
check_err(C.sheaf_kv_get(kv, key, #key, K.SHEAF_MODE_DEFAULT, 0, got, errp),
  K.SHEAF_ERR_NO_SUCH_KEY, "getting the erased key is SHEAF_ERR_NO_SUCH_KEY")
check_ok(C.sheaf_kv_close(kv, errp), "sheaf_kv_close")
check_err(C.sheaf_kv_put(kv, key, #key, value, #value, K.SHEAF_MODE_DEFAULT, errp),
  K.SHEAF_ERR_CLOSED, "a put on a closed key space is SHEAF_ERR_CLOSED")
C.sheaf_kv_free(kv)

-- Errors.
out_stream = ffi.new("struct ArrowArrayStream[1]")
local e = check_err(C.sheaf_table_read(lib, "nope", 4, nil, 0, out_stream, nil, nil, errp),
  K.SHEAF_ERR_NO_SUCH_SYMBOL, "reading a missing symbol is SHEAF_ERR_NO_SUCH_SYMBOL", "nope")
check(out_stream[0].release == nil, "a failed read leaves the stream released",
  e and e.message)
check(C.sheaf_table_read(lib, "nope", 4, nil, 0, out_stream, nil, nil, nil)
  == K.SHEAF_ERR_NO_SUCH_SYMBOL, "err may be NULL: the status alone comes back")
local bad = "\xff\xfe"
check_err(C.sheaf_table_read(lib, bad, #bad, nil, 0, out_stream, nil, nil, errp),
  K.SHEAF_ERR_INVALID_UTF8, "a symbol name that is not UTF-8 is SHEAF_ERR_INVALID_UTF8")
check_err(C.sheaf_store_open(bad, #bad, store_p, errp), K.SHEAF_ERR_INVALID_UTF8,
  "a URI that is not UTF-8 is SHEAF_ERR_INVALID_UTF8")
check(store_p[0] == store, "a failed open leaves *out unchanged")
local flag_lib = ffi.new("bool[1]")
check_err(C.sheaf_table_has_symbol(ffi.cast("const struct SheafLibrary *", store), "prices", 6,
  flag_lib, errp), K.SHEAF_ERR_INVALID_ARGUMENT,
  "a store handle passed as a library is SHEAF_ERR_INVALID_ARGUMENT")
check_err(C.sheaf_table_has_symbol(lib, "prices", 6, nil, errp), K.SHEAF_ERR_NULL_POINTER,
  "a NULL out pointer is SHEAF_ERR_NULL_POINTER")
check_err(C.sheaf_library_open(store, "absent", 6, false, nil, 0, lib_p, errp),
  K.SHEAF_ERR_NO_SUCH_LIBRARY, "opening a missing library is SHEAF_ERR_NO_SUCH_LIBRARY")
local bad_json = "{not json"
out_stream = ffi.new("struct ArrowArrayStream[1]")
check_err(C.sheaf_table_read(lib, "prices", 6, bad_json, #bad_json, out_stream, nil, nil, errp),
  K.SHEAF_ERR_INVALID_JSON, "read options that are not JSON are SHEAF_ERR_INVALID_JSON")
local config_key = "no.such.key"
check_err(C.sheaf_config_set_int(config_key, #config_key, 1, errp),
  K.SHEAF_ERR_UNKNOWN_CONFIG_KEY, "an unknown config key is SHEAF_ERR_UNKNOWN_CONFIG_KEY")

-- A stream that fails in its second get_next: nothing is committed, the stream is released.
stream, state = make_stream(columns, batches, 2)
check_err(C.sheaf_table_write(lib, "prices", 6, stream, nil, 0, nil, 0, version_p, errp),
  K.SHEAF_ERR_INVALID_ARROW, "a failing stream is SHEAF_ERR_INVALID_ARROW",
  "the Lua producer failed on purpose")
check(state.released and stream[0].release == nil and n_live == 0,
  "the failing stream and the batch it produced were released", ("live %d"):format(n_live))
check_ok(C.sheaf_table_read_metadata(lib, "prices", 6, nil, 0, info, nil, errp),
  "sheaf_table_read_metadata after the failed write")
info_json = take_bytes(info)
check(json_has(info_json, "version", "1"), "the failed write committed nothing", info_json)

-- Close and free everything.
check_ok(C.sheaf_library_close(lib, errp), "sheaf_library_close")
check_err(C.sheaf_table_has_symbol(lib, "prices", 6, flag_lib, errp), K.SHEAF_ERR_CLOSED,
  "a call on a closed library is SHEAF_ERR_CLOSED")
C.sheaf_library_free(lib)
check_ok(C.sheaf_store_close(store, errp), "sheaf_store_close")
C.sheaf_store_free(store)

check(#callback_errors == 0, "no Lua error inside a callback",
  table.concat(callback_errors, "\n"))
check(n_live == 0, "nothing the producer made is still live at the end", ("%d live"):format(n_live))
if n_live == 0 then
  -- No C object refers to the callbacks any more: give their slots back.
  for _, callback in pairs(callbacks) do callback:free() end
end

print(("1..%d"):format(n_checks))
if n_failed > 0 then
  diag(("%d of %d checks failed"):format(n_failed, n_checks))
  os.exit(1)
end
os.exit(0)
