/* A VNC client's keys (X11 keysyms) as PC keys: the scan code in set 1,
 * plus 0xe000 for keys with the 0xe0 prefix (src/devices/i8042.h). A
 * keysym names a symbol, a scan code a key: 'a' and 'A' are one key
 * (the client sends Shift itself), as are '1' and '!', on a US layout;
 * a guest with another layout maps the keys its own way. */
#ifndef KVMINI_DISPLAY_KEYMAP_H
#define KVMINI_DISPLAY_KEYMAP_H

#include <stdint.h>

/* 0 for a keysym no PC key produces. */
uint16_t keymap_from_keysym(uint32_t keysym);

#endif
