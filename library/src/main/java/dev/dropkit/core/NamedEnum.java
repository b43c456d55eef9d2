package dev.dropkit.core;

import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * An enum that users name by a short lower-case id ({@code inverted}, {@code sample_fast}) in options,
 * command lines and {@code toString}. Every such enum parses through {@link #parse}, so all of them accept
 * the same spellings and reject a bad one with the same kind of message.
 */
public interface NamedEnum {
    /** The constant's name; every enum has it, declared here so {@link #id()} can default to it. */
    String name();

    /** The id users write and {@code toString} shows; by default the constant's name in lower case. */
    default String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Other spellings {@link #parse} accepts (another library's word for the same thing); none by default. */
    default List<String> aliases() {
        return List.of();
    }

    /**
     * The constant of {@code type} whose id or alias is {@code value}, ignoring case, surrounding blanks
     * and the difference between {@code -} and {@code _}.
     *
     * @param what the option's name, as the message calls it (e.g. {@code drop_distribution})
     * @throws IllegalArgumentException naming the option, the ids it takes (not the aliases) and the bad
     *     value: {@code drop_distribution must be 'uniform' or 'linear', got 'cubic'}
     */
    static <E extends Enum<E> & NamedEnum> E parse(Class<E> type, String what, String value) {
        if (value != null) {
            String wanted = normalized(value);
            for (E constant : type.getEnumConstants()) {
                if (Stream.concat(Stream.of(constant.id()), constant.aliases().stream())
                        .anyMatch(name -> normalized(name).equals(wanted))) {
                    return constant;
                }
            }
        }
        throw new IllegalArgumentException(what + " must be " + quotedIds(type) + ", got '" + value + "'");
    }

    private static String normalized(String name) {
        return name.trim().toLowerCase(Locale.ROOT).replace('-', '_');
    }

    /** {@code 'a' or 'b'}, {@code 'a', 'b' or 'c'}. */
    private static String quotedIds(Class<? extends NamedEnum> type) {
        List<String> quoted = Stream.of(type.getEnumConstants()).map(c -> "'" + c.id() + "'").toList();
        int last = quoted.size() - 1;
        return last == 0 ? quoted.get(0)
                : String.join(", ", quoted.subList(0, last)) + " or " + quoted.get(last);
    }
}
