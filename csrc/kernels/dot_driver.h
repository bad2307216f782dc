/*
 * The loop of a few-rows dot kernel around its (MI x NJ) tiles, shared by the
 * SIMD kernel files: each includes this after defining its tile function as
 * an always-inline function of compile-time MI and NJ, so every call below is
 * specialized. Rows of x go in groups of up to 4, rows of w by 4 then by 1.
 */
#ifndef LINEARC_DOT_DRIVER_H
#define LINEARC_DOT_DRIVER_H

#define DOT_DRIVER(NAME, T, TILE)                                              \
    static void NAME(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T *x,        \
                     ptrdiff_t ldx, const T *w, ptrdiff_t ldw, T *y,           \
                     ptrdiff_t ldy, const T *bias, int flags)                  \
    {                                                                          \
        for (ptrdiff_t i0 = 0; i0 < m; i0 += 4) {                              \
            const int mi = (int)(m - i0 < 4 ? m - i0 : 4);                     \
            const T *xi = x + i0 * ldx;                                        \
            T *yi = y + i0 * ldy;                                              \
            ptrdiff_t j = 0;                                                   \
            for (; j + 4 <= n; j += 4) {                                       \
                const T *bj = bias ? bias + j : bias;                          \
                switch (mi) {                                                  \
                case 1: TILE(1, 4, k, xi, ldx, w + j * ldw, ldw, yi + j, ldy, bj, flags); break; \
                case 2: TILE(2, 4, k, xi, ldx, w + j * ldw, ldw, yi + j, ldy, bj, flags); break; \
                case 3: TILE(3, 4, k, xi, ldx, w + j * ldw, ldw, yi + j, ldy, bj, flags); break; \
                default: TILE(4, 4, k, xi, ldx, w + j * ldw, ldw, yi + j, ldy, bj, flags); break; \
                }                                                              \
            }                                                                  \
            for (; j < n; j++) {                                               \
                const T *bj = bias ? bias + j : bias;                          \
                switch (mi) {                                                  \
                case 1: TILE(1, 1, k, xi, ldx, w + j * ldw, ldw, yi + j, ldy, bj, flags); break; \
                case 2: TILE(2, 1, k, xi, ldx, w + j * ldw, ldw, yi + j, ldy, bj, flags); break; \
                case 3: TILE(3, 1, k, xi, ldx, w + j * ldw, ldw, yi + j, ldy, bj, flags); break; \
                default: TILE(4, 1, k, xi, ldx, w + j * ldw, ldw, yi + j, ldy, bj, flags); break; \
                }                                                              \
            }                                                                  \
        }                                                                      \
    }

#endif
