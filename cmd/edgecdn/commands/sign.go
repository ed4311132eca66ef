package commands

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"edgecdn/internal/cli"
	"edgecdn/internal/signing"
)

func signCmd() *cli.Command {
	return &cli.Command{
		Name:    "sign",
		Summary: "issue a signed-URL token for a path prefix (edges check it with --url-signing-key)",
		Usage:   "sign --key BASE64 --prefix /vod/TITLE/ [--ttl 1h] [--ip ADDRESS]",
		Example: "key=$(openssl rand -base64 32)\n" +
			"edgecdn edge --url-signing-key \"$key\" --origin http://127.0.0.1:8080 --standalone &\n" +
			"edgecdn sign --key \"$key\" --prefix /vod/title-000/ --ttl 1h\n" +
			"curl -sI http://127.0.0.1:9090/t/$(edgecdn sign --key \"$key\" --prefix /vod/title-000/)/vod/title-000/master.m3u8",
		Flags: func(fs *flag.FlagSet) func(context.Context, []string) error {
			key := fs.String("key", "", "base64 signing `KEY` (the first of the edges' --url-signing-key)")
			prefix := fs.String("prefix", "/vod/", "path `PREFIX` the token covers")
			ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
			ip := fs.String("ip", "", "bind the token to this client `ADDRESS`")
			return func(ctx context.Context, args []string) error {
				if len(args) > 0 {
					return fmt.Errorf("unexpected arguments %q", args)
				}
				keys, err := signing.ParseKeys(*key)
				if err != nil {
					return err
				}
				if len(keys) != 1 {
					return errors.New("--key: want one key")
				}
				if !strings.HasPrefix(*prefix, "/") || *ttl <= 0 {
					return errors.New("--prefix must start with / and --ttl be positive")
				}
				fmt.Fprintln(os.Stdout, signing.Sign(keys[0], signing.Claims{Prefix: *prefix, Expires: time.Now().Add(*ttl), IP: *ip}))
				return nil
			}
		},
	}
}
