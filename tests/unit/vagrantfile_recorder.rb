# Loads a Vagrantfile with a stand-in for Vagrant that records every setting, and prints
# them as JSON lines: {"path": [...], "args": [...], "kw": {...}}. Provider blocks get a
# recorder for the provider and one for `override` (paths [..., "provider", NAME, ...] and
# [..., "provider", NAME, "override", ...]). For tests/unit/test_ways_in.py: what the
# Vagrantfile asks of each provider, checked without a provider installed.
require "json"

class Recorder
  def initialize(path, log)
    @path = path
    @log = log
  end

  def respond_to_missing?(_name, _include_private = false)
    true
  end

  def []=(key, value)
    @log << { "path" => @path + ["[#{key}]"], "args" => [value], "kw" => {} }
  end

  def [](key)
    Recorder.new(@path + ["[#{key}]"], @log)
  end

  def method_missing(name, *args, **kw, &blk)
    n = name.to_s
    if n.end_with?("=")
      @log << { "path" => @path + [n.chomp("=")], "args" => args, "kw" => kw }
      return args.first
    end
    if blk && n == "provider"
      here = @path + ["provider", args.first.to_s]
      blk.call(Recorder.new(here, @log), Recorder.new(here + ["override"], @log))
      return nil
    end
    if blk
      # a block's own options (`define "lab2", autostart: false`) under [..., n, args...]
      @log << { "path" => @path + [n] + args.map(&:to_s), "args" => [], "kw" => kw.transform_keys(&:to_s) } unless kw.empty?
      blk.call(Recorder.new(@path + [n] + args.map(&:to_s), @log))
      return nil
    end
    return Recorder.new(@path + [n], @log) if args.empty? && kw.empty?
    @log << { "path" => @path + [n], "args" => args, "kw" => kw.transform_keys(&:to_s) }
    Recorder.new(@path + [n], @log)
  end
end

module Vagrant
  VERSION = "2.4.1"
  @log = []
  class << self
    attr_reader :log
  end

  def self.configure(_version)
    yield Recorder.new([], @log)
  end
end

load ARGV.fetch(0)
Vagrant.log.each { |entry| puts JSON.generate(entry) }
