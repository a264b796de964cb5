/* Per-translation-block instruction profile for qemu-user (plugin API v1, declarations written by
   hand to match qemu 7.2). Writes "vaddr instructions" per executed block to $TBPROF_OUT
   (default tbprof.txt); scripts/aarch64/tbprof-symbols.py sums them per function.
     gcc -O2 -shared -fPIC -o libtbprof.so tbprof.c
     TBPROF_OUT=prof.txt qemu-aarch64 -L /usr/aarch64-linux-gnu -plugin $PWD/libtbprof.so BINARY ARGS */
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t, void *);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, qemu_plugin_vcpu_tb_trans_cb_t);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *, enum qemu_plugin_op, void *, uint64_t);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, qemu_plugin_udata_cb_t, void *);
QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;
struct rec { uint64_t vaddr, insns, count; struct rec *next; };
static struct rec *head;
static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    struct rec *r = calloc(1, sizeof *r);
    r->vaddr = qemu_plugin_tb_vaddr(tb); r->insns = qemu_plugin_tb_n_insns(tb);
    r->next = head; head = r;
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &r->count, 1);
}
static void at_exit(qemu_plugin_id_t id, void *p) {
    const char *path = getenv("TBPROF_OUT"); FILE *f = fopen(path ? path : "tbprof.txt", "w");
    if (!f) return;
    for (struct rec *r = head; r; r = r->next) if (r->count) fprintf(f, "%llx %llu\n", (unsigned long long)r->vaddr, (unsigned long long)(r->insns * r->count));
    fclose(f);
}
QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
