// mbedTLS configuration of the 32-bit Unix test build (used when it is built with TLS):
// the Unix port's own (ports/unix/mbedtls/mbedtls_config_port.h), except that mbedTLS
// allocates on the MicroPython heap through m_tracked_calloc, as MicroPython's bare-metal
// ports do, so `-X heapsize=N` counts the TLS session's buffers too. Entropy stays the
// platform's (/dev/urandom).
#ifndef MICROPY_INCLUDED_MBEDTLS_CONFIG_H
#define MICROPY_INCLUDED_MBEDTLS_CONFIG_H

#define MBEDTLS_CIPHER_MODE_CTR
#define MBEDTLS_TIMING_C

#include <stddef.h>
void *m_tracked_calloc(size_t nmemb, size_t size);
void m_tracked_free(void *ptr);
#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_PLATFORM_STD_CALLOC m_tracked_calloc
#define MBEDTLS_PLATFORM_STD_FREE m_tracked_free

#include "extmod/mbedtls/mbedtls_config_common.h"

#endif
