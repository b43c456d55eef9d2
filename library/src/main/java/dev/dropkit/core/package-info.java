/** What every algorithm shares: device choice, seeding, argument checks and native-memory discipline. */
package dev.dropkit.core;
