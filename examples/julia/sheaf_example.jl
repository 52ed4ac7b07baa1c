# sheaf_example.jl — Sheaf's C ABI from Julia through `ccall`, with no package but Base.
#
#   julia examples/julia/sheaf_example.jl [path/to/libsheaf.so] [store directory]
#
# (defaults: $SHEAF_LIB or target/x86_64-unknown-linux-gnu/release/libsheaf.so; a new temporary directory).
#
# Opens an LMDB store, creates a library, writes a table from an Arrow C stream built here
# (ArrowSchema / ArrowArray / ArrowArrayStream as C-layout Julia structs, callbacks made with
# @cfunction), appends to it, reads it back through the stream sheaf_table_read fills, reads
# the version info JSON, uses a key space, and shows how errors come back. Every result is
# checked with @assert, so the script doubles as a test of the binding.
#
# The ccall rules followed throughout (Julia manual, "Calling C and Fortran Code"):
# - Text goes in as (pointer, length): a String passed as Ptr{UInt8} with sizeof(s) bytes (not
#   Cstring: Sheaf reads exactly `len` bytes and keys may hold NUL); NULL is C_NULL with 0.
# - Out-parameters are Refs: Ref{Ptr{SheafStore}} for `SheafStore **`, Ref{SheafBytes} for
#   `SheafBytes *`, Ref{Bool} for `bool *`, Ref{UInt64} for `uint64_t *`.
# - SheafStatus is int32_t: Int32. size_t is Csize_t, uint32_t UInt32, C bool Bool.
# - Returned `const char *` (static or owned by an error) is Cstring, read with unsafe_string.
# - Handles are pointers to opaque types (empty mutable structs), never dereferenced.
# - The Arrow structs are immutable isbits structs with the C layout; callbacks write into
#   consumer-allocated structs with unsafe_store!. Julia memory they point to (buffers,
#   strings, child structs) stays referenced from LIVE until the release callback runs.
# - Callbacks (@cfunction, no closures) catch every exception: none may unwind through the
#   library. The library calls them on the thread that called it.
#
# tests/julia/check_julia_ccalls.py checks every `ccall((:name, libsheaf), Ret, (Args…), …)`
# here against include/sheaf.h (names, argument counts, types), the `SHEAF_*` constants against
# the header's values and the struct layouts against its structs.

const libsheaf = length(ARGS) >= 1 ? ARGS[1] :
    get(ENV, "SHEAF_LIB", joinpath(@__DIR__, "..", "..", "target", "x86_64-unknown-linux-gnu", "release", "libsheaf.so"))

# ---- constants and types of include/sheaf.h ------------------------------------------------

const SheafStatus = Int32

const SHEAF_OK = Int32(0)
const SHEAF_ERR_NO_SUCH_SYMBOL = Int32(302)
const SHEAF_ERR_NO_SUCH_KEY = Int32(305)
const SHEAF_ERR_KEY_EXISTS = Int32(402)
const SHEAF_ERR_INVALID_ARGUMENT = Int32(600)
const SHEAF_ERR_INVALID_UTF8 = Int32(602)
const SHEAF_ERR_INVALID_ARROW = Int32(609)
const SHEAF_MODE_DEFAULT = UInt32(0)
const SHEAF_MODE_NEW_ONLY = UInt32(16)
const SHEAF_SIZE_NOT_FOUND = 0xffffffffffffffff
const ARROW_FLAG_NULLABLE = 2

# Opaque handles: only ever behind a Ptr.
mutable struct SheafError end
mutable struct SheafStore end
mutable struct SheafLibrary end
mutable struct SheafKeySpace end

# Bytes owned by the library; free with sheaf_bytes_free.
struct SheafBytes
    data::Ptr{UInt8}
    len::Csize_t
end

# The Arrow C data interface (https://arrow.apache.org/docs/format/CDataInterface.html).
struct ArrowSchema
    format::Ptr{UInt8}
    name::Ptr{UInt8}
    metadata::Ptr{UInt8}
    flags::Int64
    n_children::Int64
    children::Ptr{Ptr{ArrowSchema}}
    dictionary::Ptr{ArrowSchema}
    release::Ptr{Cvoid}
    private_data::Ptr{Cvoid}
end

struct ArrowArray
    length::Int64
    null_count::Int64
    offset::Int64
    n_buffers::Int64
    n_children::Int64
    buffers::Ptr{Ptr{Cvoid}}
    children::Ptr{Ptr{ArrowArray}}
    dictionary::Ptr{ArrowArray}
    release::Ptr{Cvoid}
    private_data::Ptr{Cvoid}
end

struct ArrowArrayStream
    get_schema::Ptr{Cvoid}
    get_next::Ptr{Cvoid}
    get_last_error::Ptr{Cvoid}
    release::Ptr{Cvoid}
    private_data::Ptr{Cvoid}
end

empty_schema() = ArrowSchema(C_NULL, C_NULL, C_NULL, 0, 0, C_NULL, C_NULL, C_NULL, C_NULL)
empty_array() = ArrowArray(0, 0, 0, 0, 0, C_NULL, C_NULL, C_NULL, C_NULL, C_NULL)
empty_stream() = ArrowArrayStream(C_NULL, C_NULL, C_NULL, C_NULL, C_NULL)

# Writes one field of the struct at `p` (memory the other side owns).
function store_field!(p::Ptr{T}, field::Symbol, value) where {T}
    i = Base.fieldindex(T, field)
    F = fieldtype(T, i)
    unsafe_store!(Ptr{F}(p + fieldoffset(T, i)), convert(F, value))
    return nothing
end

# ---- errors ----------------------------------------------------------------------------------

struct SheafException <: Exception
    status::Int32
    name::String
    message::String
end

Base.showerror(io::IO, e::SheafException) = print(io, e.name, " (", e.status, "): ", e.message)

status_name(status::Integer) =
    unsafe_string(ccall((:sheaf_status_name, libsheaf), Cstring, (Int32,), status))

# Throws a SheafException for a failed call, with the error's message (the error is freed).
function check_status(status::Int32, err::Ref{Ptr{SheafError}})
    status == SHEAF_OK && return nothing
    message = ""
    if err[] != C_NULL
        code = ccall((:sheaf_error_code, libsheaf), Int32, (Ptr{SheafError},), err[])
        @assert code == status
        message = unsafe_string(
            ccall((:sheaf_error_message, libsheaf), Cstring, (Ptr{SheafError},), err[]))
        ccall((:sheaf_error_free, libsheaf), Cvoid, (Ptr{SheafError},), err[])
        err[] = C_NULL
    end
    throw(SheafException(status, status_name(status), message))
end

new_err() = Ref{Ptr{SheafError}}(C_NULL)

# The status of the SheafException `f()` throws (fails when it throws none).
function status_of(f)
    try
        f()
    catch e
        e isa SheafException || rethrow()
        println("  expected error: ", sprint(showerror, e))
        return e.status
    end
    error("the call did not fail")
end

# The contents of library-owned bytes, which are freed.
function take_bytes!(b::Ref{SheafBytes})
    v = b[]
    out = v.data == C_NULL ? UInt8[] : copy(unsafe_wrap(Array, v.data, Int(v.len)))
    ccall((:sheaf_bytes_free, libsheaf), Cvoid, (Ref{SheafBytes},), b)
    @assert b[].data == C_NULL && b[].len == 0
    return out
end

# A JSON text has "key": value (value as JSON text); enough for the checks here.
json_has(json::AbstractString, key::AbstractString, value::AbstractString) =
    occursin(Regex("\"" * key * "\"\\s*:\\s*" * value), json)

# ---- stores, libraries, key spaces -------------------------------------------------------------

function store_open(uri::String)
    out = Ref{Ptr{SheafStore}}(C_NULL)
    err = new_err()
    status = ccall((:sheaf_store_open, libsheaf), Int32,
                   (Ptr{UInt8}, Csize_t, Ref{Ptr{SheafStore}}, Ref{Ptr{SheafError}}),
                   uri, sizeof(uri), out, err)
    check_status(status, err)
    return out[]
end

function store_close_and_free(store::Ptr{SheafStore})
    err = new_err()
    status = ccall((:sheaf_store_close, libsheaf), Int32,
                   (Ptr{SheafStore}, Ref{Ptr{SheafError}}), store, err)
    check_status(status, err)
    ccall((:sheaf_store_free, libsheaf), Cvoid, (Ptr{SheafStore},), store)
end

function library_open(store::Ptr{SheafStore}, name::String; create::Bool=true,
                      options::Union{String,Nothing}=nothing)
    out = Ref{Ptr{SheafLibrary}}(C_NULL)
    err = new_err()
    opts = options === nothing ? C_NULL : options
    opts_len = options === nothing ? 0 : sizeof(options)
    status = ccall((:sheaf_library_open, libsheaf), Int32,
                   (Ptr{SheafStore}, Ptr{UInt8}, Csize_t, Bool, Ptr{UInt8}, Csize_t,
                    Ref{Ptr{SheafLibrary}}, Ref{Ptr{SheafError}}),
                   store, name, sizeof(name), create, opts, opts_len, out, err)
    check_status(status, err)
    return out[]
end

function library_close_and_free(lib::Ptr{SheafLibrary})
    err = new_err()
    status = ccall((:sheaf_library_close, libsheaf), Int32,
                   (Ptr{SheafLibrary}, Ref{Ptr{SheafError}}), lib, err)
    check_status(status, err)
    ccall((:sheaf_library_free, libsheaf), Cvoid, (Ptr{SheafLibrary},), lib)
end

function has_symbol(lib::Ptr{SheafLibrary}, symbol::String)
    out = Ref{Bool}(false)
    err = new_err()
    status = ccall((:sheaf_table_has_symbol, libsheaf), Int32,
                   (Ptr{SheafLibrary}, Ptr{UInt8}, Csize_t, Ref{Bool}, Ref{Ptr{SheafError}}),
                   lib, symbol, sizeof(symbol), out, err)
    check_status(status, err)
    return out[]
end

function kv_open(store::Ptr{SheafStore}, name::String)
    out = Ref{Ptr{SheafKeySpace}}(C_NULL)
    err = new_err()
    status = ccall((:sheaf_kv_open, libsheaf), Int32,
                   (Ptr{SheafStore}, Ptr{UInt8}, Csize_t, Ref{Ptr{SheafKeySpace}},
                    Ref{Ptr{SheafError}}),
                   store, name, sizeof(name), out, err)
    check_status(status, err)
    return out[]
end

function kv_put(kv::Ptr{SheafKeySpace}, key::Vector{UInt8}, value::Vector{UInt8};
                mode::UInt32=SHEAF_MODE_DEFAULT)
    err = new_err()
    status = ccall((:sheaf_kv_put, libsheaf), Int32,
                   (Ptr{SheafKeySpace}, Ptr{UInt8}, Csize_t, Ptr{UInt8}, Csize_t, UInt32,
                    Ref{Ptr{SheafError}}),
                   kv, key, length(key), value, length(value), mode, err)
    check_status(status, err)
end

# The value at `key`, or `nothing` when the key is missing (SHEAF_ERR_NO_SUCH_KEY).
function kv_get(kv::Ptr{SheafKeySpace}, key::Vector{UInt8})
    out = Ref(SheafBytes(C_NULL, 0))
    err = new_err()
    status = ccall((:sheaf_kv_get, libsheaf), Int32,
                   (Ptr{SheafKeySpace}, Ptr{UInt8}, Csize_t, UInt32, UInt64, Ref{SheafBytes},
                    Ref{Ptr{SheafError}}),
                   kv, key, length(key), SHEAF_MODE_DEFAULT, UInt64(0), out, err)
    check_status(status, err) # a missing key: SHEAF_ERR_NO_SUCH_KEY
    return take_bytes!(out)
end

function kv_get_or_nothing(kv::Ptr{SheafKeySpace}, key::Vector{UInt8})
    try
        return kv_get(kv, key)
    catch e
        (e isa SheafException && e.status == SHEAF_ERR_NO_SUCH_KEY) || rethrow()
        return nothing
    end
end

function kv_exists(kv::Ptr{SheafKeySpace}, key::Vector{UInt8})
    out = Ref{Bool}(false)
    err = new_err()
    status = ccall((:sheaf_kv_exists, libsheaf), Int32,
                   (Ptr{SheafKeySpace}, Ptr{UInt8}, Csize_t, Ref{Bool}, Ref{Ptr{SheafError}}),
                   kv, key, length(key), out, err)
    check_status(status, err)
    return out[]
end

function kv_length(kv::Ptr{SheafKeySpace}, key::Vector{UInt8})
    out = Ref{UInt64}(0)
    err = new_err()
    status = ccall((:sheaf_kv_length, libsheaf), Int32,
                   (Ptr{SheafKeySpace}, Ptr{UInt8}, Csize_t, Ref{UInt64}, Ref{Ptr{SheafError}}),
                   kv, key, length(key), out, err)
    check_status(status, err)
    return out[]
end

# Erases `key`; whether it existed.
function kv_erase(kv::Ptr{SheafKeySpace}, key::Vector{UInt8})
    existed = Ref{Bool}(false)
    err = new_err()
    status = ccall((:sheaf_kv_erase, libsheaf), Int32,
                   (Ptr{SheafKeySpace}, Ptr{UInt8}, Csize_t, Ref{Bool}, Ref{Ptr{SheafError}}),
                   kv, key, length(key), existed, err)
    check_status(status, err)
    return existed[]
end

function kv_close_and_free(kv::Ptr{SheafKeySpace})
    err = new_err()
    status = ccall((:sheaf_kv_close, libsheaf), Int32,
                   (Ptr{SheafKeySpace}, Ref{Ptr{SheafError}}), kv, err)
    check_status(status, err)
    ccall((:sheaf_kv_free, libsheaf), Cvoid, (Ptr{SheafKeySpace},), kv)
end

# ---- an Arrow C stream producer ------------------------------------------------------------------
#
# A batch is a NamedTuple of column vectors: Vector{Int64} ("l"), Vector{Float64} ("g") or
# Vector{String} ("u"), each element possibly `missing` (a null).

const LIVE = Dict{UInt,Vector{Any}}() # what each exported schema / array points into
const NEXT_ID = Ref{UInt}(0)
const CALLBACK_ERRORS = String[]

function anchor!(objects::Vector{Any})
    NEXT_ID[] += 1
    LIVE[NEXT_ID[]] = objects
    return Ptr{Cvoid}(NEXT_ID[])
end

function cstring!(objects::Vector{Any}, s::AbstractString)
    bytes = Vector{UInt8}(s)
    push!(bytes, 0x00)
    push!(objects, bytes)
    return pointer(bytes)
end

function arrow_format(values::AbstractVector)
    T = nonmissingtype(eltype(values))
    T === Int64 && return "l"
    T === Float64 && return "g"
    T <: AbstractString && return "u"
    error("no Arrow format for $T in this example")
end

# A release of an ArrowSchema or ArrowArray (the same fields matter): the parent owns its
# children's memory, so a child is only marked released.
function release_struct(p::Ptr{T})::Cvoid where {T<:Union{ArrowSchema,ArrowArray}}
    try
        x = unsafe_load(p)
        for i in 1:x.n_children
            store_field!(unsafe_load(x.children, i), :release, C_NULL)
        end
        x.private_data == C_NULL || delete!(LIVE, UInt(x.private_data))
        store_field!(p, :release, C_NULL)
    catch e
        push!(CALLBACK_ERRORS, sprint(showerror, e))
    end
    return nothing
end

release_schema(p::Ptr{ArrowSchema})::Cvoid = release_struct(p)
release_array(p::Ptr{ArrowArray})::Cvoid = release_struct(p)

const RELEASE_SCHEMA = @cfunction(release_schema, Cvoid, (Ptr{ArrowSchema},))
const RELEASE_ARRAY = @cfunction(release_array, Cvoid, (Ptr{ArrowArray},))

function export_schema!(out::Ptr{ArrowSchema}, batch::NamedTuple)
    objects = Any[]
    children = ArrowSchema[
        ArrowSchema(cstring!(objects, arrow_format(batch[k])), cstring!(objects, String(k)),
                    C_NULL, ARROW_FLAG_NULLABLE, 0, C_NULL, C_NULL, RELEASE_SCHEMA, C_NULL)
        for k in keys(batch)]
    pointers = Ptr{ArrowSchema}[pointer(children, i) for i in eachindex(children)]
    push!(objects, children, pointers)
    unsafe_store!(out, ArrowSchema(cstring!(objects, "+s"), cstring!(objects, ""), C_NULL, 0,
                                   length(children), pointer(pointers), C_NULL, RELEASE_SCHEMA,
                                   anchor!(objects)))
    return nothing
end

function export_column(objects::Vector{Any}, values::AbstractVector)
    n = length(values)
    nulls = count(ismissing, values)
    validity = Ptr{Cvoid}(C_NULL)
    if nulls > 0
        bitmap = zeros(UInt8, cld(n, 8))
        for (i, v) in enumerate(values)
            ismissing(v) || (bitmap[((i - 1) >> 3) + 1] |= UInt8(1) << ((i - 1) & 7))
        end
        push!(objects, bitmap)
        validity = Ptr{Cvoid}(pointer(bitmap))
    end
    T = nonmissingtype(eltype(values))
    if T <: AbstractString
        offsets = zeros(Int32, n + 1)
        data = UInt8[]
        for (i, v) in enumerate(values)
            ismissing(v) || append!(data, codeunits(v))
            offsets[i + 1] = length(data)
        end
        push!(data, 0x00) # never an empty (NULL-pointer) data buffer; not part of any value
        push!(objects, offsets, data)
        buffers = Ptr{Cvoid}[validity, pointer(offsets), pointer(data)]
    else
        data = T[ismissing(v) ? zero(T) : v for v in values]
        push!(objects, data)
        buffers = Ptr{Cvoid}[validity, pointer(data)]
    end
    push!(objects, buffers)
    return ArrowArray(n, nulls, 0, length(buffers), 0, pointer(buffers), C_NULL, C_NULL,
                      RELEASE_ARRAY, C_NULL)
end

function export_batch!(out::Ptr{ArrowArray}, batch::NamedTuple)
    objects = Any[]
    children = ArrowArray[export_column(objects, batch[k]) for k in keys(batch)]
    pointers = Ptr{ArrowArray}[pointer(children, i) for i in eachindex(children)]
    buffers = Ptr{Cvoid}[C_NULL] # a struct array has only a validity buffer
    push!(objects, children, pointers, buffers)
    rows = length(first(batch))
    unsafe_store!(out, ArrowArray(rows, 0, 0, 1, length(children), pointer(buffers),
                                  pointer(pointers), C_NULL, RELEASE_ARRAY, anchor!(objects)))
    return nothing
end

mutable struct Producer
    batches::Vector{NamedTuple}
    next::Int
    fail_at::Int # get_next fails (EIO) when asked for this batch; 0: never
    last_error::Vector{UInt8}
    released::Bool
end

const PRODUCERS = Dict{UInt,Producer}()

producer(stream::Ptr{ArrowArrayStream}) = PRODUCERS[UInt(unsafe_load(stream).private_data)]

function stream_get_schema(stream::Ptr{ArrowArrayStream}, out::Ptr{ArrowSchema})::Cint
    try
        export_schema!(out, first(producer(stream).batches))
        return Cint(0)
    catch e
        push!(CALLBACK_ERRORS, sprint(showerror, e))
        return Cint(22) # EINVAL
    end
end

function stream_get_next(stream::Ptr{ArrowArrayStream}, out::Ptr{ArrowArray})::Cint
    try
        p = producer(stream)
        if p.next == p.fail_at
            p.last_error = Vector{UInt8}("the Julia producer failed on purpose\0")
            return Cint(5) # EIO
        end
        if p.next > length(p.batches)
            unsafe_store!(out, empty_array()) # release NULL: the end of the stream
            return Cint(0)
        end
        export_batch!(out, p.batches[p.next])
        p.next += 1
        return Cint(0)
    catch e
        push!(CALLBACK_ERRORS, sprint(showerror, e))
        return Cint(22)
    end
end

function stream_get_last_error(stream::Ptr{ArrowArrayStream})::Ptr{UInt8}
    try
        p = producer(stream)
        return isempty(p.last_error) ? Ptr{UInt8}(C_NULL) : pointer(p.last_error)
    catch e
        push!(CALLBACK_ERRORS, sprint(showerror, e))
        return Ptr{UInt8}(C_NULL)
    end
end

function stream_release(stream::Ptr{ArrowArrayStream})::Cvoid
    try
        p = pop!(PRODUCERS, UInt(unsafe_load(stream).private_data))
        p.released = true
        store_field!(stream, :release, C_NULL)
    catch e
        push!(CALLBACK_ERRORS, sprint(showerror, e))
    end
    return nothing
end

const GET_SCHEMA = @cfunction(stream_get_schema, Cint,
                              (Ptr{ArrowArrayStream}, Ptr{ArrowSchema}))
const GET_NEXT = @cfunction(stream_get_next, Cint, (Ptr{ArrowArrayStream}, Ptr{ArrowArray}))
const GET_LAST_ERROR = @cfunction(stream_get_last_error, Ptr{UInt8}, (Ptr{ArrowArrayStream},))
const RELEASE_STREAM = @cfunction(stream_release, Cvoid, (Ptr{ArrowArrayStream},))

# A stream producing `batches`, to be moved into a write (which releases it).
function make_stream(batches::Vector{<:NamedTuple}; fail_at::Int=0)
    NEXT_ID[] += 1
    p = Producer(collect(NamedTuple, batches), 1, fail_at, UInt8[], false)
    PRODUCERS[NEXT_ID[]] = p
    stream = Ref(ArrowArrayStream(GET_SCHEMA, GET_NEXT, GET_LAST_ERROR, RELEASE_STREAM,
                                  Ptr{Cvoid}(NEXT_ID[])))
    return stream, p
end

# ---- tables ------------------------------------------------------------------------------------

# Writes (or, with append=true, appends) `stream`, moved in; returns the new version.
function table_write(lib::Ptr{SheafLibrary}, symbol::String, stream::Ref{ArrowArrayStream};
                     metadata::Union{Vector{UInt8},Nothing}=nothing,
                     options::Union{String,Nothing}=nothing, append::Bool=false)
    version = Ref{UInt64}(0)
    err = new_err()
    meta = metadata === nothing ? C_NULL : metadata
    meta_len = metadata === nothing ? 0 : length(metadata)
    opts = options === nothing ? C_NULL : options
    opts_len = options === nothing ? 0 : sizeof(options)
    status = if append
        ccall((:sheaf_table_append, libsheaf), Int32,
              (Ptr{SheafLibrary}, Ptr{UInt8}, Csize_t, Ref{ArrowArrayStream}, Ptr{UInt8},
               Csize_t, Ptr{UInt8}, Csize_t, Ref{UInt64}, Ref{Ptr{SheafError}}),
              lib, symbol, sizeof(symbol), stream, meta, meta_len, opts, opts_len, version, err)
    else
        ccall((:sheaf_table_write, libsheaf), Int32,
              (Ptr{SheafLibrary}, Ptr{UInt8}, Csize_t, Ref{ArrowArrayStream}, Ptr{UInt8},
               Csize_t, Ptr{UInt8}, Csize_t, Ref{UInt64}, Ref{Ptr{SheafError}}),
              lib, symbol, sizeof(symbol), stream, meta, meta_len, opts, opts_len, version, err)
    end
    check_status(status, err)
    return version[]
end

# The values of one imported column (`missing` for nulls).
function import_column(a::ArrowArray, format::String)
    validity = unsafe_load(a.buffers, 1)
    values = Any[]
    for row in 0:(a.length - 1)
        k = a.offset + row
        if validity != C_NULL &&
           ((unsafe_load(Ptr{UInt8}(validity), (k >> 3) + 1) >> (k & 7)) & 0x01) == 0x00
            push!(values, missing)
        elseif format == "l"
            push!(values, unsafe_load(Ptr{Int64}(unsafe_load(a.buffers, 2)), k + 1))
        elseif format == "g"
            push!(values, unsafe_load(Ptr{Float64}(unsafe_load(a.buffers, 2)), k + 1))
        elseif format == "u" || format == "U"
            offsets = format == "u" ? Ptr{Int32}(unsafe_load(a.buffers, 2)) :
                                      Ptr{Int64}(unsafe_load(a.buffers, 2))
            first_byte = unsafe_load(offsets, k + 1)
            last_byte = unsafe_load(offsets, k + 2)
            data = Ptr{UInt8}(unsafe_load(a.buffers, 3))
            push!(values, unsafe_string(data + first_byte, last_byte - first_byte))
        else
            error("this example reads no Arrow format $format")
        end
    end
    return values
end

# Reads a version: (column names, Dict name => values, version info JSON, metadata bytes).
function table_read(lib::Ptr{SheafLibrary}, symbol::String;
                    options::Union{String,Nothing}=nothing)
    stream = Ref(empty_stream())
    info = Ref(SheafBytes(C_NULL, 0))
    meta = Ref(SheafBytes(C_NULL, 0))
    err = new_err()
    opts = options === nothing ? C_NULL : options
    opts_len = options === nothing ? 0 : sizeof(options)
    status = ccall((:sheaf_table_read, libsheaf), Int32,
                   (Ptr{SheafLibrary}, Ptr{UInt8}, Csize_t, Ptr{UInt8}, Csize_t,
                    Ref{ArrowArrayStream}, Ref{SheafBytes}, Ref{SheafBytes},
                    Ref{Ptr{SheafError}}),
                   lib, symbol, sizeof(symbol), opts, opts_len, stream, info, meta, err)
    check_status(status, err)
    info_json = String(take_bytes!(info))
    metadata = take_bytes!(meta)

    # The stream's callbacks are C function pointers: ccall them directly.
    get_schema, get_next = stream[].get_schema, stream[].get_next
    get_last_error, release_stream = stream[].get_last_error, stream[].release
    schema = Ref(empty_schema())
    code = ccall(get_schema, Cint, (Ref{ArrowArrayStream}, Ref{ArrowSchema}), stream, schema)
    code == 0 || error("get_schema failed: $code")
    names = String[]
    formats = String[]
    for i in 1:schema[].n_children
        child = unsafe_load(unsafe_load(schema[].children, i))
        push!(names, unsafe_string(child.name))
        push!(formats, unsafe_string(child.format))
    end
    release_schema_fn = schema[].release
    ccall(release_schema_fn, Cvoid, (Ref{ArrowSchema},), schema)
    @assert schema[].release == C_NULL

    columns = Dict{String,Vector{Any}}(name => Any[] for name in names)
    while true
        array = Ref(empty_array())
        code = ccall(get_next, Cint, (Ref{ArrowArrayStream}, Ref{ArrowArray}), stream, array)
        if code != 0
            message = ccall(get_last_error, Ptr{UInt8}, (Ref{ArrowArrayStream},), stream)
            text = message == C_NULL ? "" : unsafe_string(message)
            ccall(release_stream, Cvoid, (Ref{ArrowArrayStream},), stream)
            error("get_next failed ($code): ", text)
        end
        array[].release == C_NULL && break # the end of the stream
        for i in 1:array[].n_children
            child = unsafe_load(unsafe_load(array[].children, i))
            append!(columns[names[i]], import_column(child, formats[i]))
        end
        release_array_fn = array[].release
        ccall(release_array_fn, Cvoid, (Ref{ArrowArray},), array)
    end
    ccall(release_stream, Cvoid, (Ref{ArrowArrayStream},), stream)
    @assert stream[].release == C_NULL
    return names, columns, info_json, metadata
end

function read_info(lib::Ptr{SheafLibrary}, symbol::String)
    info = Ref(SheafBytes(C_NULL, 0))
    err = new_err()
    status = ccall((:sheaf_table_read_metadata, libsheaf), Int32,
                   (Ptr{SheafLibrary}, Ptr{UInt8}, Csize_t, Ptr{UInt8}, Csize_t,
                    Ref{SheafBytes}, Ptr{SheafBytes}, Ref{Ptr{SheafError}}),
                   lib, symbol, sizeof(symbol), C_NULL, 0, info, C_NULL, err) # no metadata
    check_status(status, err)
    return String(take_bytes!(info))
end

same(a, b) = length(a) == length(b) && all(isequal(x, y) for (x, y) in zip(a, b))

# ---- the walk-through ----------------------------------------------------------------------------

function main()
    version = unsafe_string(ccall((:sheaf_version, libsheaf), Cstring, ()))
    abi = ccall((:sheaf_abi_version, libsheaf), UInt32, ())
    println("libsheaf ", version, " (C ABI ", abi, ") from ", libsheaf)
    @assert abi >= 5

    dir = length(ARGS) >= 2 ? abspath(ARGS[2]) : mktempdir()
    store = store_open("lmdb://" * dir * "/store?map_size=256MB")
    lib = library_open(store, "julia"; options="{\"rows_per_segment\": 4}")

    # Write two batches: an int64 index, a float64 and a string column, with nulls.
    batches = [
        (id=Int64[1, 2, 3], price=Union{Float64,Missing}[10.5, missing, -0.25],
         name=Union{String,Missing}["alpha", "", "héllo"]),
        (id=Int64[4, 5], price=Union{Float64,Missing}[1e300, 42.0],
         name=Union{String,Missing}[missing, "日本"]),
    ]
    stream, p = make_stream(batches)
    metadata = Vector{UInt8}("julia metadata\0with a NUL")
    v0 = table_write(lib, "prices", stream; metadata=metadata, options="{\"index\": \"id\"}")
    @assert v0 == 0
    @assert p.released && stream[].release == C_NULL # moved in, then released
    @assert isempty(LIVE) && isempty(PRODUCERS) # every schema and batch released too
    println("wrote version ", v0)

    names, columns, info, meta = table_read(lib, "prices")
    println("read ", names, "; version info ", info)
    @assert names == ["id", "price", "name"]
    @assert same(columns["id"], [1, 2, 3, 4, 5])
    @assert same(columns["price"], [10.5, missing, -0.25, 1e300, 42.0])
    @assert same(columns["name"], ["alpha", "", "héllo", missing, "日本"])
    @assert meta == metadata
    @assert json_has(info, "version", "0") && json_has(info, "rows", "5")
    @assert json_has(info, "index", "\"id\"")

    # Append a batch (version 1); version 0 stays readable.
    stream, p = make_stream([(id=Int64[6], price=Union{Float64,Missing}[6.5],
                              name=Union{String,Missing}["six"])])
    @assert table_write(lib, "prices", stream; append=true) == 1
    names, columns, info, _ = table_read(lib, "prices"; options="{\"as_of\": 0}")
    @assert length(columns["id"]) == 5 && json_has(info, "version", "0")
    info = read_info(lib, "prices")
    @assert json_has(info, "version", "1") && json_has(info, "rows", "6")
    println("latest: ", info)

    # A key space.
    kv = kv_open(store, "julia-kv")
    key = Vector{UInt8}("k\0ey")
    value = Vector{UInt8}("a value €")
    kv_put(kv, key, value)
    @assert kv_get(kv, key) == value
    @assert kv_exists(kv, key) && kv_length(kv, key) == length(value)
    status = status_of(() -> kv_put(kv, key, value; mode=SHEAF_MODE_NEW_ONLY))
    @assert status == SHEAF_ERR_KEY_EXISTS
    @assert kv_get_or_nothing(kv, Vector{UInt8}("missing")) === nothing
    @assert !kv_exists(kv, Vector{UInt8}("missing"))
    @assert kv_length(kv, Vector{UInt8}("missing")) == SHEAF_SIZE_NOT_FOUND
    @assert kv_erase(kv, key) && !kv_erase(kv, key)
    @assert kv_get_or_nothing(kv, key) === nothing
    kv_close_and_free(kv)
    println("key space: put, get, exists, length, erase done")

    # Errors.
    @assert status_of(() -> table_read(lib, "no-such-symbol")) == SHEAF_ERR_NO_SUCH_SYMBOL
    bad_utf8 = String(UInt8[0xff, 0xfe])
    @assert status_of(() -> table_read(lib, bad_utf8)) == SHEAF_ERR_INVALID_UTF8
    # A store handle where a library is expected: refused, never a crash.
    status = status_of(() -> has_symbol(Ptr{SheafLibrary}(store), "prices"))
    @assert status == SHEAF_ERR_INVALID_ARGUMENT
    # A stream failing in its second get_next: nothing is committed, the stream is released.
    stream, p = make_stream(batches; fail_at=2)
    @assert status_of(() -> table_write(lib, "prices", stream)) == SHEAF_ERR_INVALID_ARROW
    @assert p.released && isempty(LIVE) && isempty(PRODUCERS)
    @assert json_has(read_info(lib, "prices"), "version", "1")

    library_close_and_free(lib)
    store_close_and_free(store)
    @assert isempty(CALLBACK_ERRORS) join(CALLBACK_ERRORS, "\n")
    length(ARGS) >= 2 || rm(dir; recursive=true)
    println("all done")
end

main()
