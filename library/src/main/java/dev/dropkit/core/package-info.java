/**
 * What every algorithm shares: device choice, seeding, argument checks and native-memory discipline.
 * It uses no other dropkit package, so that any of them can use it without a cycle.
 */
package dev.dropkit.core;
