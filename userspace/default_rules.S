/* SPDX-License-Identifier: Apache-2.0 */
/* default_rules.S: rules/default.yaml built into wacht-sensor, used when no
 * --rules is given (so `wacht-sensor` alone runs with a sane policy). */
	.section .rodata
	.global wacht_default_rules
	.type wacht_default_rules, @object
	.balign 8
wacht_default_rules:
	.incbin "rules/default.yaml"
	.global wacht_default_rules_end
wacht_default_rules_end:
	.byte 0
	.section .note.GNU-stack,"",@progbits
