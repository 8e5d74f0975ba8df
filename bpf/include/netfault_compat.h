/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Constants the UAPI headers of this build host (Debian 12, linux 6.1 headers) lack, although
 * the running kernel (6.18) has them. They carry an NF_ prefix instead of the UAPI names because
 * UAPI declares them as enumerators: a #define of the same name would break the build the day
 * the headers are upgraded, and #ifndef cannot detect an enumerator. */
#ifndef INJECTOR_NETFAULT_COMPAT_H
#define INJECTOR_NETFAULT_COMPAT_H

/* tcx program return codes (enum tcx_action_base, linux 6.6+). */
#define NF_TCX_NEXT (-1) /* no verdict: run the next program on the link, then the stack */
#define NF_TCX_PASS 0	 /* accept, skipping later programs */
#define NF_TCX_DROP 2	 /* drop (same value as TC_ACT_SHOT) */

/* bpf_attach_type values for tcx links (linux 6.6+), used by the C++ side with
 * bpf_link_create(). */
#define NF_ATTACH_TCX_INGRESS 46
#define NF_ATTACH_TCX_EGRESS  47

#endif /* INJECTOR_NETFAULT_COMPAT_H */
