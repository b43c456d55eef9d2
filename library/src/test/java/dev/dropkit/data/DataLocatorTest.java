package dev.dropkit.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The search order, through the overload that takes the environment value and the Debian directory. */
class DataLocatorTest {
    @TempDir
    Path root;

    Path env;
    Path debian;
    Path subset;
    Path empty;

    @BeforeEach
    void dirs() throws IOException {
        env = root.resolve("env");
        debian = root.resolve("debian");
        subset = root.resolve("subset");
        empty = Files.createDirectories(root.resolve("empty"));
        TestIdx.writeBothSplits(env, 30, false);
        TestIdx.writeBothSplits(debian, 20, true);
        TestIdx.writeBothSplits(subset, 10, true);
    }

    @Test
    void aValidEnvironmentDirectoryWins() {
        DataSource s = DataLocator.fashionMnist(env.toString(), debian, subset);
        assertEquals(DataSource.Kind.ENV, s.kind());
        assertEquals(env, s.dir());
        assertTrue(s.description().contains("$DROPKIT_DATA=" + env), s.description());
        assertTrue(s.description().contains("30 train / 16 test"), s.description());
    }

    @Test
    void anInvalidEnvironmentDirectoryIsAnErrorNotAFallThrough() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> DataLocator.fashionMnist(empty.toString(), debian, subset));
        assertTrue(e.getMessage().contains("DROPKIT_DATA=" + empty), e.getMessage());
        assertTrue(e.getMessage().contains("train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte"),
                e.getMessage());
        e = assertThrows(IllegalStateException.class,
                () -> DataLocator.fashionMnist(root.resolve("typo").toString(), debian, subset));
        assertTrue(e.getMessage().contains("typo"), e.getMessage());
    }

    @Test
    void debianComesNextThenTheBundledSubset() {
        DataSource d = DataLocator.fashionMnist(null, debian, subset);
        assertEquals(DataSource.Kind.DEBIAN, d.kind());
        assertEquals(debian, d.dir());
        assertEquals("Fashion-MNIST (full, Debian package dataset-fashion-mnist: 20 train / 11 test) from " + debian,
                d.description());
        assertEquals(DataSource.Kind.DEBIAN, DataLocator.fashionMnist("  ", debian, subset).kind(), "blank is unset");

        DataSource s = DataLocator.fashionMnist(null, root.resolve("no-debian"), subset);
        assertEquals(DataSource.Kind.BUNDLED_SUBSET, s.kind());
        assertEquals(subset, s.dir());
        assertEquals("BUNDLED SUBSET of Fashion-MNIST (10 train / 6 test) from " + subset
                + " — install dataset-fashion-mnist for the full set", s.description());
    }

    @Test
    void anIncompleteDebianDirectoryIsSkipped() throws IOException {
        Files.delete(debian.resolve("t10k-labels-idx1-ubyte.gz"));
        assertEquals(DataSource.Kind.BUNDLED_SUBSET, DataLocator.fashionMnist(null, debian, subset).kind());
    }

    @Test
    void nothingFoundSaysWhereItLooked() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> DataLocator.fashionMnist(null, root.resolve("no-debian"), root.resolve("no-subset")));
        assertTrue(e.getMessage().contains("no-debian") && e.getMessage().contains("no-subset")
                && e.getMessage().contains("apt-get install dataset-fashion-mnist"), e.getMessage());
    }

    @Test
    void anExplicitDirectoryMustHoldTheFiles() throws IOException {
        DataSource s = DataLocator.at(env);
        assertEquals(env, s.dir());
        assertTrue(s.description().contains(env.toString()), s.description());
        try (IdxDataset train = s.load(Split.TRAIN)) { // plain files: no cache involved
            assertEquals(30, train.size());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DataLocator.at(empty));
        assertTrue(e.getMessage().contains(empty.toString()) && e.getMessage().contains("t10k-labels-idx1-ubyte"),
                e.getMessage());
    }

    @Test
    void theRealDefaultsAreWired() {
        assertEquals(Path.of("/usr/share/datasets/fashion-mnist"), DataLocator.DEBIAN_FASHION_MNIST);
        assertEquals("DROPKIT_DATA", DataLocator.ENV);
    }
}
