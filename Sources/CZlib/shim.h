#ifndef DEFEND_CZLIB_SHIM_H
#define DEFEND_CZLIB_SHIM_H
#include <zlib.h>
/* deflateInit2 is a macro: Swift cannot call it. windowBits 31 = gzip framing. */
static inline int defend_deflate_init_gzip(z_stream *s, int level) {
    return deflateInit2(s, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
}
static inline int defend_inflate_init_gzip(z_stream *s) {
    return inflateInit2(s, 31);
}
#endif
