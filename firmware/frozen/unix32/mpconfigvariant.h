// 32-bit Unix build of MicroPython for measuring the meter firmware's heap use.
// What changes the size of heap objects is set as on the ESP8266 port
// (ports/esp8266/mpconfigport.h): 32-bit words in the C object representation
// (small ints, qstrs and 30-bit floats packed in one word), single-precision floats,
// arbitrary-precision (MPZ) long ints, 16-bit GC stack entries and the same parser
// allocation steps. The rest stays as on the Unix "standard" variant.
#define MICROPY_CONFIG_ROM_LEVEL (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)

#define MICROPY_OBJ_REPR                (MICROPY_OBJ_REPR_C)
#define MICROPY_FLOAT_IMPL              (MICROPY_FLOAT_IMPL_FLOAT)
#define MICROPY_LONGINT_IMPL            (MICROPY_LONGINT_IMPL_MPZ)
#define MICROPY_GC_STACK_ENTRY_TYPE     uint16_t
#define MICROPY_ALLOC_PARSE_RULE_INIT   (48)
#define MICROPY_ALLOC_PARSE_RULE_INC    (8)
#define MICROPY_ALLOC_PARSE_RESULT_INC  (8)
#define MICROPY_ALLOC_PARSE_CHUNK_INIT  (64)
#define MICROPY_PY_BUILTINS_COMPLEX     (0)

// mbedTLS (when built with TLS) allocates through m_tracked_calloc on the GC heap
// (mbedtls_config_heap.h); harmless without TLS.
#define MICROPY_TRACKED_ALLOC           (1)

#include "variants/mpconfigvariant_common.h"
