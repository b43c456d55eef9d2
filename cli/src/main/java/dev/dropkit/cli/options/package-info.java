/**
 * The options that many commands share, as picocli {@code @Mixin}s, so that each is spelled, documented and
 * parsed in one place. Where commands differ in the default, the command initializes its {@code @Mixin}
 * field with an instance that holds its own default (for example
 * {@code @Mixin DeviceOption device = DeviceOption.withDefault("cpu")}); picocli keeps a pre-initialized
 * mixin instance, shows that value as {@code ${DEFAULT-VALUE}} and restores it before each parse.
 */
package dev.dropkit.cli.options;
